"""Plugin discovery over the ``unigame`` entry-point group.

Built-in plugins are ordinary entry points of this distribution. ``UNIGAME_DISABLE_PLUGINS=a,b``
blocks plugins by name. A plugin that fails to import, or implements a hook unigame does not have
(a misspelt name), is recorded as broken (with its error) and the rest keep working; ``unigame plugins
list`` shows it, and an unknown-name error says so when the name may be that plugin's.

Hooks fire in one documented order: ``core`` first, then the other entry points sorted by name, then
in-process plugins in the order they were registered (``register_plugin``).

A plugin module may declare the plugins it needs: ``requires_plugins = ("evals",)``. When one of them
is blocked, broken or not installed, the plugin is not registered (``plugins list`` shows why), and a
command that needs a kind of thing the plugin registers (a model, a suite...) stops with one sentence
naming both plugins and the fix.
"""

from __future__ import annotations

import difflib
import logging
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, UnigameError
from .registry import DISABLE_ENV, REGISTRIES, Registry, blocked_names

log = logging.getLogger(__name__)

GROUP = "unigame"
KINDS = tuple(REGISTRIES)


@dataclass
class PluginInfo:
    name: str
    module: str
    version: str = ""
    status: str = "loaded"  # loaded | blocked | broken
    error: str = ""  # one line: why it is broken
    traceback: str = ""  # the full traceback of a plugin that failed to import (shown with --verbose)


@dataclass
class PluginSet:
    """The plugin manager plus what was discovered (in hook order), and the filled registries."""

    manager: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    registries: dict[str, Registry] = field(default_factory=dict)
    unmet: dict[str, tuple[ModuleType, str]] = field(default_factory=dict)  # plugin -> (module, error)
    unknown_blocked: list[str] = field(default_factory=list)  # UNIGAME_DISABLE_PLUGINS names no plugin has
    borrowed: set[str] = field(default_factory=set)  # register_plugin names of a module already registered
    reported: bool = False

    def registry(self, kind: str) -> Registry:
        for module, error in self.unmet.values():
            if hasattr(module, f"unigame_register_{kind}"):
                raise PluginError(error)
        if kind not in self.registries:
            self.registries[kind] = _fill(self, kind)
        return self.registries[kind]


def _discover() -> PluginSet:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    found = PluginSet(pm)
    blocked = set(blocked_names())
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (e.name != "core", e.name)):
        version = ep.dist.version if ep.dist is not None else ""
        info = PluginInfo(ep.name, ep.value, version)
        found.plugins.append(info)
        if ep.name in blocked:
            info.status = "blocked"
            continue
        if pm.has_plugin(ep.name):
            first = next(p.module for p in found.plugins if p.name == ep.name)
            info.status, info.error = "broken", f"another plugin ({first}) already uses the name '{ep.name}'"
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not break other commands
            info.status, info.error = "broken", f"{type(exc).__name__}: {exc}"
            info.traceback = traceback.format_exc()
            continue
        try:
            _register(pm, module, ep.name)
        except PluginError as exc:
            info.status, info.error = "broken", exc.message
    found.unknown_blocked = sorted(blocked - {p.name for p in found.plugins})
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


def _register(pm: pluggy.PluginManager, module: Any, name: str) -> None:
    """Register ``module`` as plugin ``name``; a hook unigame does not have (or wrong arguments) fails naming both."""
    try:
        pm.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"Plugin '{name}' has an invalid hook implementation: {exc}.") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError:
        unknown = [c.name for c in pm.get_hookcallers(module) or [] if not c.has_spec()]
        pm.unregister(module)
        hooks = [n for n in dir(hookspecs) if n.startswith("unigame_")]
        close = difflib.get_close_matches(unknown[0], hooks, n=1) if unknown else []
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise PluginError(f"Plugin '{name}' implements '{', '.join(unknown)}', which is not a unigame hook.{hint}") \
            from None


def _fill(found: PluginSet, kind: str) -> Registry:
    """Run every plugin's ``unigame_register_<kind>`` into a fresh registry, in the documented plugin order."""
    registry = REGISTRIES[kind](kind.rstrip("s"))
    registry.unloaded = {p.name: f"blocked by {DISABLE_ENV}" if p.status == "blocked" else f"broken ({p.error})"
                         for p in found.plugins if p.status != "loaded"}
    order = {p.name: i for i, p in enumerate(found.plugins)}
    hook = getattr(found.manager.hook, f"unigame_register_{kind}")
    named = [(found.manager.get_name(impl.plugin) or "?", impl) for impl in hook.get_hookimpls()]
    for plugin_name, impl in sorted(named, key=lambda pair: order.get(pair[0], len(order))):
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
    """Register an in-process plugin object (tests and notebooks), after every discovered one in hook order;
    registries are rebuilt. A hook unigame does not have raises ``PluginError`` naming the plugin and the hook.

    A module already registered (an installed plugin, through its entry point) is left as it is, and so is
    it by ``unregister_plugin(name)`` afterwards: a plugin's test registers it the same way whether the plugin
    is installed or not. Another module under a name already taken raises ``PluginError``."""
    found = plugin_set()
    if found.manager.is_registered(module):
        found.borrowed.add(name)
        return
    taken = found.manager.get_plugin(name)
    if taken is not None:
        raise PluginError(f"The plugin name '{name}' is taken by '{getattr(taken, '__name__', taken)}': register "
                          f"'{getattr(module, '__name__', module)}' under another name.")
    _register(found.manager, module, name)
    found.plugins.append(PluginInfo(name, getattr(module, "__name__", repr(module)), status="loaded"))
    found.registries.clear()


def unregister_plugin(name: str) -> None:
    """Take plugin ``name`` away (registries are rebuilt); a ``register_plugin`` of a module that was already
    registered is undone by doing nothing."""
    found = plugin_set()
    if name in found.borrowed:
        found.borrowed.discard(name)
        return
    plugin = found.manager.get_plugin(name)
    if plugin is not None:
        found.manager.unregister(plugin)
    found.plugins = [p for p in found.plugins if p.name != name]
    found.registries.clear()


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


def report_problems() -> None:
    """Log, once per discovery, each broken plugin (one line; its traceback at debug level, i.e. with
    ``--verbose``) and each ``UNIGAME_DISABLE_PLUGINS`` name that matches no installed plugin."""
    found = plugin_set()
    if found.reported:
        return
    found.reported = True
    for info in found.plugins:
        if info.status == "broken" and info.name not in found.unmet:  # unmet: the needing command says it
            log.warning("plugin '%s' is broken: %s", info.name, info.error)
            if info.traceback:
                log.debug("traceback of plugin '%s':\n%s", info.name, info.traceback.rstrip())
    names = [p.name for p in found.plugins]
    for name in found.unknown_blocked:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        log.warning("%s names '%s', which is no installed plugin%s; installed: %s.", DISABLE_ENV, name, hint,
                    ", ".join(names))
