"""Value checks of a resolved run configuration: ranges, choices, and no NaN/inf anywhere.

Types are OmegaConf's job (a string where a number goes fails on merge); this module catches values
of the right type that make no sense (a negative learning rate, ``train.max_bad_steps=0``, a fraction
above 1, ``nan``, a ``gate.mode`` its plugin does not offer), before anything heavy loads, naming the key.
Every problem of a configuration is collected and reported in one error (``config_error``).

A plugin declares a choice on its options dataclass with :func:`choice`; the core checks it with the
rest of the configuration, before the model loads.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
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

COUPLINGS = ("decoder", "decoder-pgd", "decoder-noise", "embedding", "noise", "none")

# (key, test, what it must be). Each test sees the value; keys of a plugin-owned node are only checked
# when that node names the core's built-in component (a third-party buffer may mean something else by
# ``capacity``). Cheap and before anything heavy: a nonsense value must not cost a model load.
_RANGES: list[tuple[str, Any, str]] = [
    ("game.coupling", lambda v: v in COUPLINGS, f"one of {', '.join(COUPLINGS)}"),
    ("game.eps_max", lambda v: v >= 0, "non-negative"),
    ("game.lambda_reg", lambda v: v >= 0, "non-negative"),
    ("game.lambda_adv", lambda v: v > 0, "positive (the weight of the adversarial CE)"),
    ("game.refine_steps", lambda v: 0 <= v <= 100, "in [0, 100] (0 = no refinement)"),
    ("game.refine_step", lambda v: 0 < v <= 2, "in (0, 2] (a fraction of the bound)"),
    ("game.beta", lambda v: v >= 0, "non-negative"),
    ("game.adversary_fraction", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("game.buffer_fraction", lambda v: 0 <= v <= 4, "in [0, 4]"),
    ("game.hardness_reference", lambda v: v in ("none", "round_trip"), "none or round_trip"),
    ("game.gate_reference", lambda v: v in ("clean", "round_trip"), "clean or round_trip"),
    ("game.rescore_every", lambda v: v >= 0, "non-negative (0 = never)"),
    ("health.min_gate_pass", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("health.max_saturation", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("perturber.hidden", lambda v: v >= 1, "at least 1"),
    ("perturber.depth", lambda v: v >= 1, "at least 1"),
    ("perturber.bound", lambda v: v in ("radial", "direction"), "radial or direction"),
    ("perturber.init_scale", lambda v: v >= 0, "non-negative"),
    ("lora.r", lambda v: v >= 1, "at least 1"),
    ("lora.alpha", lambda v: v > 0, "positive"),
    ("lora.dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("optim.lr_lora", lambda v: v >= 0, "non-negative"),
    ("optim.lr_perturber", lambda v: v >= 0, "non-negative"),
    ("optim.weight_decay", lambda v: v >= 0, "non-negative"),
    ("optim.grad_clip", lambda v: v > 0, "positive"),
    ("optim.warmup_steps", lambda v: v >= 0, "non-negative"),
    ("optim.scheduler", lambda v: v in ("cosine", "constant"), "cosine or constant"),
    ("train.steps", lambda v: v >= 1, "at least 1"),
    ("train.batch_size", lambda v: v >= 1, "at least 1"),
    ("train.precision", lambda v: v in ("auto", "bf16", "fp32"), "auto, bf16 or fp32"),
    ("train.log_every", lambda v: v >= 1, "at least 1"),
    ("train.sample_every", lambda v: v >= 0, "non-negative (0 = never)"),
    ("train.checkpoint_every", lambda v: v >= 0, "non-negative (0 = only at the end)"),
    ("train.keep_checkpoints", lambda v: v >= 1, "at least 1"),
    ("train.max_bad_steps", lambda v: v >= 1, "at least 1"),
    ("train.eval_limit", lambda v: v >= 0, "non-negative"),
    ("data.num_workers", lambda v: v >= 0, "non-negative"),
    ("data.image_errors", lambda v: v in ("skip", "fail"), "skip or fail"),
]
_BUILTIN_RANGES: dict[tuple[str, str], list[tuple[str, Any, str]]] = {
    ("buffer", "hard"): [
        ("capacity", lambda v: v >= 1, "at least 1"),
        ("quantile", lambda v: 0 <= v <= 1, "in [0, 1]"),
        ("history", lambda v: v >= 1, "at least 1"),
        ("temperature", lambda v: v >= 0, "non-negative (0 = uniform)"),
    ],
    ("schedule", "alternating"): [
        ("adversary_updates", lambda v: v >= 0, "non-negative"),
        ("mine_every", lambda v: v >= 1, "at least 1"),
        ("eps_warmup", lambda v: v >= 0, "non-negative"),
        ("beta_warmup", lambda v: v >= 0, "non-negative"),
        ("start_step", lambda v: v >= 0, "non-negative"),
    ],
    ("gate", "cosine"): [("threshold", lambda v: -1 <= v <= 1, "in [-1, 1]")],
}


def _non_finite(node: Any, key: str = "") -> list[str]:
    """Every key (dotted) anywhere in the config, plugin nodes included, whose float is NaN or +-inf."""
    if isinstance(node, dict):
        return [k for name, value in node.items() for k in _non_finite(value, f"{key}.{name}" if key else str(name))]
    if isinstance(node, list):
        return [k for i, value in enumerate(node) for k in _non_finite(value, f"{key}[{i}]")]
    return [key] if isinstance(node, float) and not math.isfinite(node) else []


def value_problems(cfg: DictConfig) -> list[Problem]:
    """Ranges and choices of every core key (and the built-in components'), NaN/inf anywhere."""
    problems = [
        Problem(key, f"must be a finite number, got {OmegaConf.select(cfg, key)!r}.",
                "NaN and inf are never valid settings; use a large finite number (e.g. buffer.tau=-1e9) instead.")
        for key in _non_finite(OmegaConf.to_container(cfg, resolve=True))
    ]
    checks = list(_RANGES)
    for (node, name), rules in _BUILTIN_RANGES.items():
        if cfg[node].get("name") == name:
            checks += [(f"{node}.{key}", test, what) for key, test, what in rules]
    bad = {p.key for p in problems}
    for key, test, expected in checks:
        value = OmegaConf.select(cfg, key)
        if key not in bad and value is not None and not test(value):
            problems.append(Problem(key, f"must be {expected}, got {value!r}."))
    return problems


def check_values(cfg: DictConfig) -> None:
    """Raise one ``ConfigError`` listing every problem :func:`value_problems` finds."""
    problems = value_problems(cfg)
    if problems:
        raise config_error(problems)
