"""Errors a user sees, and the exit code each kind carries. docs/errors.md lists them.

Every error ecoscore raises on purpose derives from ``EcoscoreError`` through one of the
kinds below, and its class says its exit code: a command never picks a code itself. The
command line maps an exception to one line on standard error and that code in one place
(``exit_code_for``, used by ``ecoscore.commands.common``); a traceback only with ``--debug``.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected error: a bug
EXIT_USAGE = 2  # bad option or argument (click's own code for usage errors)
EXIT_INPUT = 3  # bad input file: model, data, record, scale, policy, keys, bundle
EXIT_MEASUREMENT = 4  # a meter or engine failed during the run
EXIT_INTEGRITY = 5  # a record or bundle failed its integrity or signature check
EXIT_OUTPUT = 6  # a result could not be written (folder unwritable, disk full)
EXIT_NOT_ELIGIBLE = 7  # verify: not certifiable as claimed; compare --policy: a submission fails
EXIT_NOT_REPLICATED = 8  # reproduce: outside the replication tolerances
EXIT_INTERRUPTED = 130  # SIGINT / SIGTERM


class EcoscoreError(Exception):
    """Base of the errors ecoscore reports: the message names the file or option and the
    problem, in one line."""

    exit_code: ClassVar[int] = EXIT_FAILURE


class UsageError(EcoscoreError):
    """A bad option or argument (unknown scale version, engine setting, location)."""

    exit_code = EXIT_USAGE


class InputError(EcoscoreError):
    """A file given to ecoscore cannot be used: model, data, record, scale, policy, keys."""

    exit_code = EXIT_INPUT


class MeasurementError(EcoscoreError):
    """A meter or an engine failed while measuring."""

    exit_code = EXIT_MEASUREMENT


class IntegrityFailure(EcoscoreError):
    """Content does not match its hash or signature: it was altered."""

    exit_code = EXIT_INTEGRITY


class OutputError(EcoscoreError):
    """A result could not be written; nothing was half-written and nothing earlier touched."""

    exit_code = EXIT_OUTPUT


def exit_code_for(e: BaseException) -> int:
    """The exit code of an exception that reached the command line."""
    if isinstance(e, EcoscoreError):
        return e.exit_code
    if isinstance(e, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(e, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return EXIT_INPUT
    if isinstance(e, MemoryError):
        return EXIT_MEASUREMENT
    return EXIT_FAILURE


def one_line(e: BaseException) -> str:
    """The message shown for ``e``: its text on one line (a bug shows its type too)."""
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, EcoscoreError | KeyboardInterrupt):
        return text
    return f"{type(e).__name__}: {text}"
