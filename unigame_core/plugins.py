"""Plugin discovery over the ``unigame`` entry-point group.

Built-in plugins are ordinary entry points of this distribution. ``UNIGAME_DISABLE_PLUGINS=a,b``
blocks plugins by name. A plugin that fails to import is recorded as broken (with its error) and
the rest keep working; ``unigame plugins list`` shows it.

A plugin module may declare the plugins it needs: ``requires_plugins = ("evals",)``. When one of them
is blocked, broken or not installed, the plugin is not registered (``plugins list`` shows why), and a
command that needs a kind of thing the plugin registers (a model, a suite...) stops with one sentence
naming both plugins and the fix.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, UnigameError
from .registry import Registry

log = logging.getLogger(__name__)

GROUP = "unigame"
DISABLE_ENV = "UNIGAME_DISABLE_PLUGINS"
KINDS = ("backends", "suites", "validators", "buffers", "schedules", "datasets", "commands", "loggers")


@dataclass
class PluginInfo:
    name: str
    module: str
    version: str = ""
    status: str = "loaded"  # loaded | blocked | broken
    error: str = ""


@dataclass
class PluginSet:
    """The plugin manager plus what was discovered, and the filled registries."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    registries: dict[str, Registry] = field(default_factory=dict)
    unmet: dict[str, tuple[ModuleType, str]] = field(default_factory=dict)  # plugin -> (module, error)

    def registry(self, kind: str) -> Registry:
        for module, error in self.unmet.values():
            if hasattr(module, f"unigame_register_{kind}"):
                raise PluginError(error)
        if kind not in self.registries:
            self.registries[kind] = _fill(self, kind)
        return self.registries[kind]


def blocked_names() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _discover() -> PluginSet:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    found = PluginSet(pm)
    blocked = blocked_names()
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (e.name != "core", e.name)):
        version = ep.dist.version if ep.dist is not None else ""
        info = PluginInfo(ep.name, ep.value, version)
        found.plugins.append(info)
        if ep.name in blocked:
            info.status = "blocked"
            continue
        if pm.has_plugin(ep.name):
            info.status, info.error = "broken", "another plugin already uses this name"
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not break other commands
            info.status, info.error = "broken", f"{type(exc).__name__}: {exc}"
            log.warning("plugin '%s' failed to load: %s", ep.name, info.error)
            continue
        pm.register(module, name=ep.name)
    _check_requirements(found)
    return found


def _requirement_error(plugin: str, needed: str, info: PluginInfo | None) -> str:
    if info is None:
        why, fix = "which is not installed", f"install the package that provides '{needed}'"
    elif info.status == "blocked":
        why, fix = f"which {DISABLE_ENV} blocks", f"remove '{needed}' from {DISABLE_ENV}"
    else:
        why, fix = f"which is broken ({info.error})", f"repair '{needed}' (see `unigame plugins list`)"
    return f"Plugin '{plugin}' needs plugin '{needed}', {why}: {fix}, or add '{plugin}' to {DISABLE_ENV}."


def _check_requirements(found: PluginSet) -> None:
    """Unregister every loaded plugin whose ``requires_plugins`` names a plugin that is not loaded."""
    infos = {info.name: info for info in found.plugins}
    changed = True
    while changed:  # a plugin dropped here can leave another one without what it needs
        changed = False
        for name, module in found.manager.list_name_plugin():
            needed = getattr(module, "requires_plugins", ())
            missing = [n for n in needed if n not in infos or infos[n].status != "loaded"]
            if not missing:
                continue
            error = _requirement_error(name, missing[0], infos.get(missing[0]))
            found.manager.unregister(module)
            infos[name].status, infos[name].error = "broken", error
            found.unmet[name] = (module, error)
            changed = True


def _fill(found: PluginSet, kind: str) -> Registry:
    registry: Registry = Registry(kind.rstrip("s"))
    hook = getattr(found.manager.hook, f"unigame_register_{kind}")
    for impl in reversed(hook.get_hookimpls()):  # pluggy lists last-registered first
        plugin_name = found.manager.get_name(impl.plugin) or "?"
        registry.current_plugin = plugin_name
        try:
            impl.function(**{kind: registry})
        except UnigameError:
            raise
        except Exception as exc:
            raise PluginError(f"Plugin '{plugin_name}' failed while registering {kind}: {exc}") from exc
    registry.current_plugin = ""
    return registry


_CURRENT: PluginSet | None = None


def plugin_set() -> PluginSet:
    """The process-wide plugin set (discovered once)."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = _discover()
    return _CURRENT


def reset() -> None:
    """Forget discovered plugins (tests, or after changing the environment)."""
    global _CURRENT
    _CURRENT = None


def register_plugin(module: ModuleType | Any, name: str) -> None:
    """Register an in-process plugin object (tests and notebooks); registries are rebuilt."""
    found = plugin_set()
    found.manager.register(module, name=name)
    found.plugins.append(PluginInfo(name, getattr(module, "__name__", repr(module)), status="loaded"))
    found.registries.clear()


def unregister_plugin(name: str) -> None:
    found = plugin_set()
    plugin = found.manager.get_plugin(name)
    if plugin is not None:
        found.manager.unregister(plugin)
    found.plugins = [p for p in found.plugins if p.name != name]
    found.registries.clear()


# Typed accessors: the rest of the code never touches ``pm.hook``.
def backends() -> Registry:
    return plugin_set().registry("backends")


def suites() -> Registry:
    return plugin_set().registry("suites")


def validators() -> Registry:
    return plugin_set().registry("validators")


def buffers() -> Registry:
    return plugin_set().registry("buffers")


def schedules() -> Registry:
    return plugin_set().registry("schedules")


def datasets() -> Registry:
    return plugin_set().registry("datasets")


def commands() -> Registry:
    return plugin_set().registry("commands")


def loggers() -> Registry:
    return plugin_set().registry("loggers")


def plugin_infos() -> list[PluginInfo]:
    return list(plugin_set().plugins)


def require_plugin(name: str) -> None:
    for info in plugin_infos():
        if info.name == name and info.status == "broken":
            raise PluginError(f"Plugin '{name}' is broken: {info.error}")
