"""What every command shares: how an error reaches the user, and how a command is added.

An exception that leaves a command becomes one line on standard error, ``ecoscore: error:
...``, and the exit code its class declares (``ecoscore.errors``); the traceback is shown
only with ``ecoscore --debug`` (or a command's own ``--debug``). Commands never print an
error themselves nor choose a code: they raise.

Every line a command prints goes through ``ecoscore.reports.safe_text.terminal`` (``say``,
``warn``, ``fail``): text from a record or a file name can neither move the cursor nor
recolour or reorder a line (a FAIL line cannot be made to read OK).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ecoscore.errors import exit_code_for, one_line
from ecoscore.reports.safe_text import terminal

if TYPE_CHECKING:
    from ecoscore.grading.scale import Scale

#: The grading options that score, label and compare share.
ScaleOption = Annotated[
    str | None, typer.Option(help="Scale version to grade with (default: 2026.1).")
]
ScaleFileOption = Annotated[
    Path | None, typer.Option(help="A scale file to grade with (a call's scale).")
]
LocationOption = Annotated[
    str, typer.Option(help="ISO 3166-1 alpha-3 country for the grid intensity.")
]

#: Set by ``ecoscore --debug``: tracebacks instead of one-line errors.
DEBUG = False


def fail(e: BaseException, debug: bool = False) -> NoReturn:
    """Report ``e`` on standard error and exit with its code (re-raise with --debug)."""
    if debug or DEBUG:
        raise e
    if isinstance(e, KeyboardInterrupt):
        print(
            "ecoscore: interrupted: no record was written for the run in progress", file=sys.stderr
        )
    else:
        print(f"ecoscore: error: {terminal(one_line(e))}", file=sys.stderr)
    raise typer.Exit(exit_code_for(e))


def reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that whatever it raises is reported by ``fail``."""

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (Exception, KeyboardInterrupt) as e:  # one line for the user; --debug: traceback
            fail(e, bool(kwargs.get("debug")))

    return command


def add_command(app: typer.Typer, name: str, fn: Callable[..., Any]) -> None:
    app.command(name)(reports_errors(fn))


def warn(message: str) -> None:
    """A warning line on standard error."""
    print(f"ecoscore: warning: {terminal(message)}", file=sys.stderr)


def say(line: str = "", err: bool = False) -> None:
    """A line of a command's output (standard output, or standard error with ``err``),
    made safe for a terminal."""
    print(terminal(line), file=sys.stderr if err else sys.stdout, flush=True)


def scale_from(version: str | None, file: Path | None, default: str | None = None) -> Scale:
    """The scale a command grades with: a published version (``--scale``) or a scale file
    (``--scale-file``, e.g. a call's scale from ``ecoscore scale derive``), not both."""
    from ecoscore.errors import UsageError
    from ecoscore.grading.scale import DEFAULT_SCALE_VERSION, load_scale

    if file is not None:
        if version is not None:
            raise UsageError("give --scale VERSION or --scale-file PATH, not both")
        return load_scale(path=file)
    return load_scale(version or default or DEFAULT_SCALE_VERSION)
