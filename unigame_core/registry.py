"""Typed registries: name -> (config dataclass, lazy ``module:attr`` builder), with aliases.

Hooks fill these registries; nothing heavy is imported until ``Entry.load()`` runs. Each kind has its
own registry class with a typed ``add`` (the keywords that kind takes, nothing else) and the contract
its builders must meet, checked on load: a backend class that is not a ``Backend`` subclass fails
naming the plugin that registered it.

Two plugins registering one name do not break the others: the clash is kept and reported, naming both
plugins and the ``UNIGAME_DISABLE_PLUGINS`` fix, only when that name is resolved.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import PluginError, UnknownNameError

DISABLE_ENV = "UNIGAME_DISABLE_PLUGINS"


def load_attr(target: str) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted)."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise PluginError(f"Builder '{target}' is not of the form 'module:attr'.")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Contract:
    """What a registered builder must be: ``check(obj)`` is true for a valid one; ``what`` says it in words."""

    what: str
    check: Callable[[Any], bool]


def subclass_of(target: str) -> Contract:
    """Builders must be classes deriving from ``target`` (``module:Class``, imported only on load)."""
    return Contract(f"a subclass of {target.replace(':', '.')}",
                    lambda obj: isinstance(obj, type) and issubclass(obj, load_attr(target)))


def instance_of(target: str) -> Contract:
    return Contract(f"an instance of {target.replace(':', '.')}", lambda obj: isinstance(obj, load_attr(target)))


CALLABLE = Contract("a callable", callable)


@dataclass(frozen=True)
class Entry:
    """One registered thing: its name, lazy builder, config dataclass and provenance."""

    name: str
    builder: str
    config: type | None = None
    help: str = ""
    plugin: str = ""
    extra: Any = None  # what the kind's typed ``add`` records: BackendInfo, SuiteInfo, LoggerInfo (else None)
    kind: str = ""
    contract: Contract | None = None

    def load(self) -> Any:
        """Import the builder and check it against its registry's contract (errors name the plugin)."""
        where = f"Plugin '{self.plugin}' registers {self.kind or 'entry'} '{self.name}' as '{self.builder}'"
        try:
            obj = load_attr(self.builder)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"{where}, which cannot be imported: {type(exc).__name__}: {exc}") from exc
        if self.contract is not None and not self.contract.check(obj):
            raise PluginError(f"{where}, which is not {self.contract.what}.")
        return obj


@dataclass(frozen=True)
class Alias:
    """A convenient name for an entry plus default settings (e.g. a checkpoint id).

    ``file`` names a YAML file of defaults (``package:path.yaml``, read when the alias is resolved);
    ``defaults`` given in code apply on top of it.
    """

    name: str
    target: str
    defaults: dict[str, Any] = field(default_factory=dict)
    help: str = ""
    plugin: str = ""
    is_default: bool = False  # the embedded default model (used when no --model is given)
    file: str = ""


def blocked_names() -> list[str]:
    """The plugin names ``UNIGAME_DISABLE_PLUGINS`` blocks, in the order given."""
    return [n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()]


def disable_hint(plugins: list[str]) -> str:
    """How to keep one of ``plugins``: block the others (never ``core``) with the environment variable."""
    already = blocked_names()
    options = [f"{DISABLE_ENV}={','.join([*already, p])}" for p in plugins if p != "core"]
    return f"Keep one: set {' or '.join(options)} (or uninstall one of them)." if options else ""


class Registry:
    """Name -> Entry, with aliases, clashes kept for resolve time and "did you mean" lookups.

    The base class takes any builder; each kind's subclass adds its typed ``add`` and contract.
    """

    contract: ClassVar[Contract | None] = None

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, Alias] = {}
        self._clashes: dict[str, list[str]] = {}  # name -> every plugin that registered it
        self.current_plugin = ""
        #: plugins that did not load (name -> "broken: why" | "blocked"), for unknown-name errors
        self.unloaded: dict[str, str] = {}

    def add(self, name: str, builder: str, *, config: type | None = None, help: str = "") -> None:
        """Register ``name``; ``builder`` is a ``module:attr`` string imported on first use."""
        self._add(name, builder, config, help, None)

    def _add(self, name: str, builder: str, config: type | None, help: str, extra: Any) -> None:
        if self._claim(name):
            self._entries[name] = Entry(name, builder, config, help, self.current_plugin, extra, self.kind,
                                        self.contract)

    def alias(
        self, name: str, target: str, *, defaults: dict[str, Any] | None = None, help: str = "", default: bool = False,
        file: str = "",
    ) -> None:
        """Register ``name`` as another name for ``target`` with default settings.

        ``file`` (``package:path.yaml``) holds the defaults as YAML, ``defaults`` in code go on top;
        ``default=True`` marks the embedded default model; two plugins claiming it fail when no model is named.
        """
        if self._claim(name):
            self._aliases[name] = Alias(name, target, dict(defaults or {}), help, self.current_plugin, default, file)

    def _claim(self, name: str) -> bool:
        """Whether ``name`` is free; a taken one is recorded as a clash (reported when it is resolved)."""
        owner = self._entries.get(name) or self._aliases.get(name)
        if owner is None:
            return True
        self._clashes.setdefault(name, [owner.plugin]).append(self.current_plugin)
        return False

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """Every entry, in registration order (the order the hooks fired), clashing ones included."""
        return list(self._entries.values())

    def aliases(self) -> list[Alias]:
        return [self._aliases[k] for k in sorted(self._aliases)]

    def clashes(self) -> dict[str, list[str]]:
        """Names registered more than once -> the plugins that registered them."""
        return {k: list(v) for k, v in self._clashes.items()}

    def default_alias(self) -> Alias | None:
        """The embedded default model's alias (None when no plugin marks one; an error when several do)."""
        marked = [a for a in self._aliases.values() if a.is_default]
        if len(marked) > 1:
            owners = [a.plugin for a in marked]
            names = " and ".join(f"'{a.name}' (plugin '{a.plugin}')" for a in marked)
            raise PluginError(f"Several plugins mark a default {self.kind}: {names}.", disable_hint(owners))
        return marked[0] if marked else None

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._aliases

    def resolve(self, name: str) -> tuple[Entry, Alias | None]:
        """Return the entry for a name or alias, raising a did-you-mean error when unknown."""
        self._check_clash(name)
        alias = self._aliases.get(name)
        target = alias.target if alias else name
        if alias:
            self._check_clash(target)
        entry = self._entries.get(target)
        if entry is None:
            raise self.unknown(target if alias else name)
        return entry, alias

    def get(self, name: str) -> Entry:
        return self.resolve(name)[0]

    def _check_clash(self, name: str) -> None:
        owners = self._clashes.get(name)
        if owners is None:
            return
        distinct = list(dict.fromkeys(owners))
        who = (f"plugin '{distinct[0]}' twice" if len(distinct) == 1
               else "plugins " + " and ".join(f"'{p}'" for p in distinct))
        raise PluginError(f"The {self.kind} '{name}' is registered by {who}.", disable_hint(distinct))

    def unknown(self, name: str) -> UnknownNameError:
        """The error for a name nobody registered: did you mean, the choices, and plugins that did not load."""
        choices = sorted([*self._entries, *self._aliases])
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        return UnknownNameError(
            f"Unknown {self.kind} '{name}'.{self._unloaded_note(name)}",
            f"{hint}Choices: {', '.join(choices) or '(none registered)'}.",
        )

    def _unloaded_note(self, name: str) -> str:
        """Plugins that did not load and may provide ``name``: its own plugin when the name says so, else all."""
        owners = {p: why for p, why in self.unloaded.items() if name == p or name.startswith((f"{p}-", f"{p}_"))}
        shown = owners or self.unloaded
        if not shown:
            return ""
        listed = "; ".join(f"plugin '{p}' is {why}" for p, why in shown.items())
        lead = "Its plugin did not load" if owners else "It may come from a plugin that did not load"
        return f" {lead}: {listed}."


@dataclass(frozen=True)
class BackendInfo:
    """What a backend's registration adds (read back as ``entry.extra``)."""

    model_types: tuple[str, ...] = ()  # config.json model types a checkpoint folder may declare to pick it
    defaults: dict[str, Any] = field(default_factory=dict)  # run-config mapping for every model of the backend
    file: str = ""  # package:path.yaml of such defaults


@dataclass(frozen=True)
class SuiteInfo:
    """What a suite's registration adds (read back as ``entry.extra``)."""

    requires: tuple[str, ...] = ()  # backend capabilities the suite needs
    lm_eval_tasks: str | None = None  # a folder of lm-eval task YAML
    file: str = ""  # package:path.yaml of the suite's option defaults


@dataclass(frozen=True)
class LoggerInfo:
    """What a metric logger's registration adds (read back as ``entry.extra``)."""

    requires: tuple[str, ...] = ()  # top-level packages checked (not imported) with the config
    install: str = ""  # what to pip install when one is missing


class BackendRegistry(Registry):
    contract = subclass_of("unigame_core.interfaces:Backend")

    def add(self, name: str, builder: str, *, config: type | None = None, help: str = "",
            model_types: tuple[str, ...] = (), defaults: dict[str, Any] | None = None, file: str = "") -> None:
        """``model_types``: ``config.json`` model types a checkpoint folder may declare to pick this backend;
        ``file`` (``package:path.yaml``) and ``defaults`` (in code, on top): a nested run-config mapping applied
        to every model of this backend."""
        self._add(name, builder, config, help, BackendInfo(tuple(model_types), dict(defaults or {}), file))


class SuiteRegistry(Registry):
    contract = subclass_of("unigame_core.interfaces:Suite")

    def add(self, name: str, builder: str, *, config: type | None = None, help: str = "",
            requires: tuple[str, ...] = (), lm_eval_tasks: str | None = None, file: str = "") -> None:
        """``requires``: backend capabilities the suite needs; ``lm_eval_tasks``: a folder of lm-eval task YAML;
        ``file`` (``package:path.yaml``): the suite's option defaults (``configs/suites/NAME.yaml``)."""
        self._add(name, builder, config, help, SuiteInfo(tuple(requires), lm_eval_tasks, file))


class LoggerRegistry(Registry):
    contract = subclass_of("unigame_core.report.monitor:MetricLogger")

    def add(self, name: str, builder: str, *, config: type | None = None, help: str = "",
            requires: tuple[str, ...] = (), install: str = "") -> None:
        """``requires``: top-level packages checked (not imported) with the config; ``install``: what to pip install."""
        self._add(name, builder, config, help, LoggerInfo(tuple(requires), install))


class ValidatorRegistry(Registry):
    contract = subclass_of("unigame_core.interfaces:Validator")


class BufferRegistry(Registry):
    contract = subclass_of("unigame_core.interfaces:Buffer")


class ScheduleRegistry(Registry):
    contract = subclass_of("unigame_core.interfaces:GameSchedule")


class DatasetRegistry(Registry):
    contract = CALLABLE


class CommandRegistry(Registry):
    contract = instance_of("typer:Typer")


#: each hook's registry: ``unigame_register_<kind>`` receives ``REGISTRIES[kind](kind without the s)``
REGISTRIES: dict[str, type[Registry]] = {
    "backends": BackendRegistry, "suites": SuiteRegistry, "validators": ValidatorRegistry,
    "buffers": BufferRegistry, "schedules": ScheduleRegistry, "datasets": DatasetRegistry,
    "commands": CommandRegistry, "loggers": LoggerRegistry,
}
