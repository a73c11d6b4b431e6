"""Value checks of a resolved run configuration: ranges, choices, and no NaN/inf anywhere.

Types are OmegaConf's job (a string where a number goes fails on merge); this module catches values
of the right type that make no sense (a negative learning rate, ``train.max_bad_steps=0``, a fraction
above 1, ``nan``), before anything heavy loads, naming the key.
"""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError

COUPLINGS = ("decoder", "embedding", "noise", "none")

# (key, test, what it must be). Each test sees the value; keys of a plugin-owned node are only checked
# when that node names the core's built-in component (a third-party buffer may mean something else by
# ``capacity``). Cheap and before anything heavy: a nonsense value must not cost a model load.
_RANGES: list[tuple[str, Any, str]] = [
    ("game.coupling", lambda v: v in COUPLINGS, f"one of {', '.join(COUPLINGS)}"),
    ("game.eps_max", lambda v: v >= 0, "non-negative"),
    ("game.lambda_reg", lambda v: v >= 0, "non-negative"),
    ("game.beta", lambda v: v >= 0, "non-negative"),
    ("game.adversary_fraction", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("game.buffer_fraction", lambda v: 0 <= v <= 4, "in [0, 4]"),
    ("game.hardness_reference", lambda v: v in ("none", "round_trip"), "none or round_trip"),
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
    ("data.max_samples", lambda v: v >= 0, "non-negative (0 = all)"),
    ("data.image_errors", lambda v: v in ("skip", "fail"), "skip or fail"),
]
_BUILTIN_RANGES: dict[tuple[str, str], list[tuple[str, Any, str]]] = {
    ("buffer", "hard"): [
        ("capacity", lambda v: v >= 1, "at least 1"),
        ("tau_mode", lambda v: v in ("absolute", "quantile"), "absolute or quantile"),
        ("quantile", lambda v: 0 <= v <= 1, "in [0, 1]"),
        ("history", lambda v: v >= 1, "at least 1"),
        ("temperature", lambda v: v >= 0, "non-negative (0 = uniform)"),
        ("storage", lambda v: v in ("float16", "float32", "uint8"), "float16, float32 or uint8"),
        ("policy", lambda v: v in ("hardest", "fifo"), "hardest or fifo"),
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


def _non_finite(node: Any, key: str = "") -> str | None:
    """The first key (dotted) anywhere in the config, plugin nodes included, whose float is NaN or +-inf."""
    if isinstance(node, dict):
        for name, value in node.items():
            found = _non_finite(value, f"{key}.{name}" if key else str(name))
            if found:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _non_finite(value, f"{key}[{i}]")
            if found:
                return found
    elif isinstance(node, float) and not math.isfinite(node):
        return key
    return None


def check_values(cfg: DictConfig) -> None:
    """Ranges and choices of every core key (and the built-in components'), NaN/inf anywhere."""
    bad = _non_finite(OmegaConf.to_container(cfg, resolve=True))
    if bad:
        raise ConfigError(
            f"Invalid configuration key '{bad}': must be a finite number, got {OmegaConf.select(cfg, bad)!r}.",
            "NaN and inf are never valid settings; use a large finite number (e.g. buffer.tau=-1e9) instead.",
        )
    checks = list(_RANGES)
    for (node, name), rules in _BUILTIN_RANGES.items():
        if cfg[node].get("name") == name:
            checks += [(f"{node}.{key}", test, what) for key, test, what in rules]
    for key, test, expected in checks:
        value = OmegaConf.select(cfg, key)
        if value is not None and not test(value):
            raise ConfigError(f"Invalid configuration key '{key}': must be {expected}, got {value!r}.")
