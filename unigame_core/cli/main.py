"""Assemble the Typer application. Importing this module must not import torch."""

from __future__ import annotations

import logging
import traceback

import typer

from .. import __version__, plugins
from ..console import setup_logging
from . import bench, calibrate, compare, config_cmd, lists, report, train
from . import eval as eval_cmd
from .common import Group, guard, state

log = logging.getLogger("unigame")

app = typer.Typer(
    name="unigame",
    help="Self-adversarial post-training of unified multimodal models (UniGame).",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging and full tracebacks."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    state["verbose"] = verbose
    setup_logging(verbose)
    plugins.report_problems()  # broken plugins in one line each (their traceback with --verbose)
    for message, trace in _MOUNT_PROBLEMS:  # found at import, before logging was set up
        log.warning(message)
        log.debug("%s", trace)
    if version:
        typer.echo(f"unigame {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})(train.train)
app.command("eval")(eval_cmd.evaluate)
app.command("bench", context_settings={"allow_extra_args": True})(bench.bench)
app.command("compare")(compare.compare)
app.command("calibrate", context_settings={"allow_extra_args": True})(calibrate.calibrate)
app.command("report")(report.report)
app.add_typer(lists.models_app, name="models")
app.add_typer(lists.plugins_app, name="plugins")
app.add_typer(lists.suites_app, name="suites")
app.add_typer(config_cmd.config_app, name="config")


#: (one-line warning, traceback) of each plugin command that could not be mounted; logged by ``_main``
_MOUNT_PROBLEMS: list[tuple[str, str]] = []


def _mount_plugin_commands() -> None:
    try:
        registry = plugins.commands()
    except Exception as exc:  # a broken command plugin must not break the CLI
        _MOUNT_PROBLEMS.append((f"plugin commands unavailable: {exc}", traceback.format_exc()))
        return
    for entry in registry.entries():
        try:
            registry.get(entry.name)  # a name two plugins registered is mounted for neither
            sub = entry.load()
        except Exception as exc:
            _MOUNT_PROBLEMS.append((f"command '{entry.name}' unavailable: {exc}", traceback.format_exc()))
            continue
        app.add_typer(sub, name=entry.name, help=entry.help)


_mount_plugin_commands()
guard(app)  # every command, a plugin's included, behind the one user-error boundary


def run() -> None:
    app()


if __name__ == "__main__":  # python -m unigame_core.cli.main / torchrun -m unigame_core.cli.main
    run()
