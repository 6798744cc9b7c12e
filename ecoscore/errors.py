"""How the command line reports errors: one line, a documented exit code; a traceback only
with --debug. Exit codes are listed in docs/errors.md."""

from __future__ import annotations

import sys

import typer

#: Exit codes (docs/errors.md).
EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected error
EXIT_USAGE = 2  # bad option or argument (typer's own code)
EXIT_INPUT = 3  # bad input file: model, data, record
EXIT_MEASUREMENT = 4  # a meter or engine failed during the run
EXIT_INTEGRITY = 5  # a record failed its integrity or signature check
EXIT_OUTPUT = 6  # a result could not be written (folder unwritable, disk full)
EXIT_NOT_ELIGIBLE = 7  # verify: below the quality gate; compare --policy: a submission fails
EXIT_NOT_REPLICATED = 8  # reproduce: outside the replication tolerances
EXIT_INTERRUPTED = 130  # SIGINT / SIGTERM


def exit_code_for(e: BaseException) -> int:
    from ecoscore.benchmarks.base import WorkloadError
    from ecoscore.record import IntegrityError, RecordError, RecordWriteError
    from ecoscore.runners.engines.base import EngineError
    from ecoscore.runners.meters.base import MeterError

    if isinstance(e, RecordWriteError):
        return EXIT_OUTPUT
    if isinstance(e, IntegrityError):
        return EXIT_INTEGRITY
    if isinstance(e, (RecordError, WorkloadError, FileNotFoundError)):
        return EXIT_INPUT
    if isinstance(e, EngineError):
        return EXIT_INPUT
    if isinstance(e, MeterError):
        return EXIT_MEASUREMENT
    if isinstance(e, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def fail(e: BaseException, debug: bool) -> None:
    if debug:
        raise e
    if isinstance(e, KeyboardInterrupt):
        print(
            "ecoscore: interrupted: no record was written for the run in progress", file=sys.stderr
        )
    else:
        print(f"ecoscore: error: {e}", file=sys.stderr)
    raise typer.Exit(exit_code_for(e))
