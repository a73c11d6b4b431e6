"""Value checks of a resolved run configuration: ranges, choices, and no NaN/inf anywhere.

Types and choices are OmegaConf's job (a string where a number goes, or a value outside a ``Literal[...]``,
fails on merge, naming the key); this module catches values of the right type that make no sense (a negative
learning rate, ``train.max_bad_steps=0``, a fraction above 1, ``nan``), before anything heavy loads, naming
the key. Every problem of a configuration is collected and reported in one error (``config_error``).

Each choice and range is declared ONCE, on its dataclass field: a choice as a ``Literal[...]`` type, a range
with :func:`bounded` (``eps_max: float = bounded(0.02, non_negative)``). The core's sections and every
plugin's options dataclass are checked the same way (:func:`field_problems`). :func:`choice` is kept for
plugins that declared a choice before ``Literal`` was checked.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError, UnigameError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration: the key (dotted) and what is wrong with it."""

    key: str
    text: str
    hint: str = ""
    error: type[UnigameError] = ConfigError  # raised as this class when it is the only problem

    def line(self) -> str:
        return f"'{self.key}': {self.text}" if self.key else self.text


def config_error(problems: Sequence[Problem]) -> UnigameError:
    """One error listing every problem (one clear sentence when there is only one)."""
    hints = " ".join(dict.fromkeys(p.hint for p in problems if p.hint)) or None
    if len(problems) == 1:
        (only,) = problems
        return only.error(f"Invalid configuration key {only.line()}" if only.key else only.text, hints)
    lines = "".join(f"\n  - {p.line()}" for p in problems)
    return ConfigError(f"Invalid configuration: {len(problems)} problems.{lines}" + (f"\n{hints}" if hints else ""))


@dataclass(frozen=True)
class Check:
    """A range: ``test(value)`` must hold; ``what`` completes 'must be ...'."""

    test: Callable[[Any], bool]
    what: str


non_negative = Check(lambda v: v >= 0, "non-negative")
positive = Check(lambda v: v > 0, "positive")
at_least_one = Check(lambda v: v >= 1, "at least 1")
fraction = Check(lambda v: 0 <= v <= 1, "in [0, 1]")


def bounded(default: Any, check: Check) -> Any:
    """A dataclass field whose value must pass ``check``, checked with the configuration before anything loads."""
    return dataclasses.field(default=default, metadata={"check": check})


def field_problems(config: type, values: Mapping[str, Any], key: str) -> list[Problem]:
    """Values of ``config``'s :func:`bounded` fields (under ``key``) outside their range, and of its
    :func:`choice` fields outside their choices (``None``: unset, never checked)."""
    problems = choice_problems(config, values, key)
    for f in dataclasses.fields(config):
        check = f.metadata.get("check")
        value = values.get(f.name) if f.name in values else None
        if check is not None and value is not None and not check.test(value):
            problems.append(Problem(f"{key}.{f.name}", f"must be {check.what}, got {value!r}."))
    return problems


def choice(default: str, *others: str) -> Any:
    """A dataclass field that must be one of ``(default, *others)``, checked with the configuration before
    anything loads: ``mode: str = choice("image", "text", "both")``."""
    return dataclasses.field(default=default, metadata={"choices": (default, *others)})


def choice_problems(config: type, values: Mapping[str, Any], key: str) -> list[Problem]:
    """Values of ``config``'s :func:`choice` fields (under ``key``) that are not among their choices."""
    problems = []
    for f in dataclasses.fields(config):
        allowed = f.metadata.get("choices")
        if allowed and f.name in values and values[f.name] not in allowed:
            problems.append(Problem(f"{key}.{f.name}", f"must be one of {', '.join(map(str, allowed))}, "
                                                       f"got {values[f.name]!r}."))
    return problems

def _non_finite(node: Any, key: str = "") -> list[str]:
    """Every key (dotted) anywhere in the config, plugin nodes included, whose float is NaN or +-inf."""
    if isinstance(node, dict):
        return [k for name, value in node.items() for k in _non_finite(value, f"{key}.{name}" if key else str(name))]
    if isinstance(node, list):
        return [k for i, value in enumerate(node) for k in _non_finite(value, f"{key}[{i}]")]
    return [key] if isinstance(node, float) and not math.isfinite(node) else []


def value_problems(cfg: DictConfig, sections: Mapping[str, type]) -> list[Problem]:
    """NaN/inf anywhere, and every range of ``sections`` (config key -> the dataclass its node follows)."""
    problems = [
        Problem(key, f"must be a finite number, got {OmegaConf.select(cfg, key)!r}.",
                "NaN and inf are never valid settings; use a large finite number (e.g. buffer.tau=-1e9) instead.")
        for key in _non_finite(OmegaConf.to_container(cfg, resolve=True))
    ]
    bad = {p.key for p in problems}
    for key, config in sections.items():
        values = OmegaConf.to_container(cfg[key], resolve=True) if key in cfg else {}
        problems += [p for p in field_problems(config, values or {}, key) if p.key not in bad]  # type: ignore[arg-type]
    return problems
