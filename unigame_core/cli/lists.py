"""``unigame models list``, ``unigame plugins list``, ``unigame suites list`` (no torch import)."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from .. import plugins
from ..config import alias_defaults, backend_defaults
from .common import out, user_errors

models_app = typer.Typer(help="Model backends and their aliases.", no_args_is_help=True)
plugins_app = typer.Typer(help="Installed plugins.", no_args_is_help=True)
suites_app = typer.Typer(help="Evaluation suites.", no_args_is_help=True)


@models_app.command("list")
@user_errors
def list_models() -> None:
    """List model aliases and backends, with everything each sets (its checkpoint, and every other setting)."""
    registry = plugins.backends()
    table = Table("name", "backend", "what it sets", "plugin", title="models", show_lines=True)
    table.columns[2].overflow = "fold"  # a long checkpoint path folds instead of being cut
    clashes = registry.clashes()
    for alias in registry.aliases():
        mark = " (default)" if alias.is_default else ""
        own = _flat(alias_defaults(alias))
        inherited = {} if alias.target in clashes else _flat(backend_defaults(registry.get(alias.target)))
        settings = {**own, **{k: v for k, v in inherited.items() if k not in own}}
        table.add_row(alias.name + mark, alias.target, _described(alias.help, settings), alias.plugin)
    for entry in sorted(registry.entries(), key=lambda e: e.name):
        settings = {} if entry.name in clashes else _flat(backend_defaults(entry))
        table.add_row(entry.name, entry.name, _described(entry.help, settings),
                      _owners(entry.plugin, clashes.get(entry.name)))
    out.print(table)


def _described(help_text: str, settings: dict[str, object]) -> Text:
    """The help (dim), then one line per config node: ``backend: checkpoint=..., soft_topk=16`` (backend first)."""
    nodes: dict[str, list[str]] = {}
    for key, value in sorted(settings.items(), key=lambda kv: not kv[0].startswith("backend.")):
        node, _, rest = key.partition(".")
        nodes.setdefault(node, []).append(f"{rest or node}={value}")
    lines = [Text(help_text, style="dim")] if help_text else []
    lines += [Text(f"{node}: {', '.join(values)}") for node, values in nodes.items()]
    return Text("\n").join(lines)


@plugins_app.command("list")
@user_errors
def list_plugins() -> None:
    """List discovered plugins with their status (loaded, blocked, broken)."""
    table = Table("plugin", "module", "version", "status", "error", title="plugins")
    for info in plugins.plugin_infos():
        table.add_row(info.name, info.module, info.version, info.status, info.error)
    out.print(table)


@suites_app.command("list")
@user_errors
def list_suites() -> None:
    """List evaluation suites."""
    registry = plugins.suites()
    table = Table("suite", "description", "plugin", title="suites")
    clashes = registry.clashes()
    for entry in sorted(registry.entries(), key=lambda e: e.name):
        table.add_row(entry.name, entry.help, _owners(entry.plugin, clashes.get(entry.name)))
    out.print(table)


def _owners(plugin: str, clash: list[str] | None) -> str:
    """The registering plugin, or every plugin of a clashing name (unusable until one is blocked)."""
    return f"CLASH: {', '.join(dict.fromkeys(clash))}" if clash else plugin


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flat(v, key + "."))
        else:
            flat[key] = v
    return flat
