"""Typed registries: name -> (config dataclass, lazy ``module:attr`` builder), with aliases.

Hooks fill these registries; nothing heavy is imported until ``Entry.load()`` runs.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .errors import PluginError, UnknownNameError

T = TypeVar("T")


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
class Entry:
    """One registered thing: its name, lazy builder, config dataclass and provenance."""

    name: str
    builder: str
    config: type | None = None
    help: str = ""
    plugin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        return load_attr(self.builder)


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


class Registry(Generic[T]):
    """Name -> Entry, with aliases, loud duplicates and "did you mean" lookups."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, Alias] = {}
        self.current_plugin = ""

    def add(self, name: str, builder: str, *, config: type | None = None, help: str = "", **extra: Any) -> None:
        """Register ``name``; ``builder`` is a ``module:attr`` string imported on first use."""
        self._check_free(name)
        self._entries[name] = Entry(name, builder, config, help, self.current_plugin, dict(extra))

    def alias(
        self, name: str, target: str, *, defaults: dict[str, Any] | None = None, help: str = "", default: bool = False,
        file: str = "",
    ) -> None:
        """Register ``name`` as another name for ``target`` with default settings.

        ``file`` (``package:path.yaml``) holds the defaults as YAML, ``defaults`` in code go on top;
        ``default=True`` marks the embedded default model; two plugins claiming it fail loudly.
        """
        self._check_free(name)
        if default:
            for other in self._aliases.values():
                if other.is_default:
                    raise PluginError(
                        f"Plugin '{self.current_plugin}' marks '{name}' as the default {self.kind}, "
                        f"but plugin '{other.plugin}' already marked '{other.name}'."
                    )
        self._aliases[name] = Alias(name, target, dict(defaults or {}), help, self.current_plugin, default, file)

    def _check_free(self, name: str) -> None:
        owner = self._entries.get(name) or self._aliases.get(name)
        if owner is not None:
            raise PluginError(
                f"Plugin '{self.current_plugin}' registers {self.kind} '{name}', "
                f"which plugin '{owner.plugin}' already registered."
            )

    def names(self) -> list[str]:
        return sorted(self._entries)

    def aliases(self) -> list[Alias]:
        return [self._aliases[k] for k in sorted(self._aliases)]

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._aliases

    def resolve(self, name: str) -> tuple[Entry, Alias | None]:
        """Return the entry for a name or alias, raising a did-you-mean error when unknown."""
        alias = self._aliases.get(name)
        target = alias.target if alias else name
        entry = self._entries.get(target)
        if entry is None:
            raise self.unknown(target if alias else name)
        return entry, alias

    def get(self, name: str) -> Entry:
        return self.resolve(name)[0]

    def unknown(self, name: str) -> UnknownNameError:
        choices = sorted([*self._entries, *self._aliases])
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        return UnknownNameError(
            f"Unknown {self.kind} '{name}'.",
            f"{hint}Choices: {', '.join(choices) or '(none registered)'}.",
        )
