"""``unigame config show``: print the resolved configuration as YAML."""

from __future__ import annotations

from typing import Optional

import typer

from ..config import build_config, to_yaml
from .common import out, user_errors

config_app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)


@config_app.command("show", context_settings={"allow_extra_args": True})
@user_errors
def show(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model alias, backend or checkpoint folder."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML file or preset (e.g. ablations/full)."),
) -> None:
    """Print the resolved configuration (defaults < model < --config < key=value)."""
    cfg = build_config(model, config, list(ctx.args))
    out.print(to_yaml(cfg), highlight=False, markup=False)
