"""The ``ecoscore`` command line. Commands live in ``ecoscore/commands/``, one module each;
heavy libraries (torch, onnxruntime, pandas) are imported inside the commands, never here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="ecoscore",
    help="Benchmark AI models for frugality: measured joules, latency and quality in one run, "
    "and an A-to-E eco-score.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    invoke_without_command=True,
)

#: Command modules; each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = (
    "ecoscore.commands.workloads",
    "ecoscore.commands.workload",
    "ecoscore.commands.run",
    "ecoscore.commands.meters",
    "ecoscore.commands.score",
    "ecoscore.commands.scale",
    "ecoscore.commands.label",
    "ecoscore.commands.compare",
    "ecoscore.commands.verify",
    "ecoscore.commands.sign",
    "ecoscore.commands.trust",
    "ecoscore.commands.policy",
    "ecoscore.commands.bundle",
    "ecoscore.commands.reproduce",
    "ecoscore.commands.campaign",
    "ecoscore.commands.node",
)


@app.callback()
def _options(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    from ecoscore.commands import common

    common.DEBUG = debug
    if version:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            print(f"ecoscore {dist_version('ecoscore')}")
        except PackageNotFoundError:
            print("ecoscore (not installed: no version metadata)")
        raise typer.Exit(0)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def _quiet_warnings() -> None:
    """Library warnings that say nothing to a user: a glyph the font lacks (drawn as a box;
    the text itself is kept in SVG), numpy overflow on a record's absurd numbers (the
    record's rules report those)."""
    import warnings

    warnings.filterwarnings(
        "ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning
    )
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"numpy(\.|$)")


def main() -> None:
    _quiet_warnings()
    app()
