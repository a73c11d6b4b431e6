"""Metric loggers (TensorBoard, wandb, MLflow, trackio...) behind one small contract, and the run's monitor.

Loggers are plugins like everything else: ``unigame_register_loggers`` fills a registry of
name -> ``module:Class``, and ``train.loggers=[tensorboard,wandb]`` picks some. Their packages are
imported only when a run starts; whether they are installed is checked with the configuration, so a
missing extra fails in a second with one sentence instead of after the model has loaded.

This module imports no torch: the configuration check runs before anything heavy.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import plugins
from ..errors import ConfigError, PluginError

log = logging.getLogger(__name__)

# TensorBoard-style groups for the keys of a metrics.jsonl row; other numeric keys go under "train/".
GROUPS = {
    "loss_u": "loss", "ce_clean": "loss", "ce_buffer": "loss",
    "ce_adv": "game", "ce_start": "game", "delta_norm": "game", "gate_pass": "game", "mined": "game",
    "hardness": "game", "eps": "game", "beta": "game", "buffer": "game", "tau": "game",
    "ce_round_trip": "health", "delta_saturation": "health", "tokens_changed": "health", "candidates": "health",
    "admitted": "health", "drawn": "health", "candidates_total": "health", "admitted_total": "health",
    "drawn_total": "health", "turns": "health", "delta_bound": "game",
    **{f"{key}_window": "health" for key in ("ce_adv", "ce_start", "ce_round_trip", "gate_pass", "delta_saturation",
                                             "tokens_changed", "delta_norm", "delta_bound")},
    "samples_per_s": "system", "skipped_updates": "system", "skipped_images": "system",
    "lr_lora": "optim", "lr_perturber": "optim",
}
NOT_SCALARS = {"step", "adversary_step"}


class MetricLogger(ABC):
    """One place metrics go. Built on rank zero only, as ``LoggerClass(run_dir, config, resume_step)``:
    ``config`` is the resolved run configuration as a plain dict, ``resume_step`` the step a resumed run
    continues from (0 for a fresh run), so a logger can continue its earlier run instead of starting over."""

    @abstractmethod
    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """Record scalars (``group/name`` -> value) at a training step."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release; called once, at the end of training or when it stops."""


def scalars_of(row: Mapping[str, Any]) -> dict[str, float]:
    """A metrics.jsonl row -> finite scalars with group tags (a list such as per-sample hardness -> its mean)."""
    scalars: dict[str, float] = {}
    for key, value in row.items():
        if key in NOT_SCALARS or value is None or isinstance(value, bool):
            continue
        name = key
        if isinstance(value, (list, tuple)):
            numbers = [float(v) for v in value if isinstance(v, (int, float)) and math.isfinite(v)]
            if not numbers:
                continue
            value, name = sum(numbers) / len(numbers), f"{key}_mean"
        if isinstance(value, (int, float)) and math.isfinite(value):
            scalars[f"{GROUPS.get(key, 'train')}/{name}"] = float(value)
    return scalars


def validate_loggers(names: Iterable[str]) -> list[str]:
    """Check ``train.loggers`` before anything heavy loads: known names, no repeats, packages installed."""
    registry = plugins.loggers()
    chosen: list[str] = []
    for name in map(str, names):
        if name not in registry:
            raise ConfigError(f"Invalid configuration key 'train.loggers': unknown logger '{name}'.",
                              registry.unknown(name).hint)
        if name in chosen:
            raise ConfigError(f"Invalid configuration key 'train.loggers': '{name}' is listed twice.")
        entry = registry.get(name)
        for module in entry.extra.requires:
            if not _installed(module):
                install = entry.extra.install or module
                raise ConfigError(f"Logger '{name}' in train.loggers needs the '{module}' package, which is not "
                                  f"installed: pip install {install}")
        chosen.append(name)
    return chosen


def _installed(module: str) -> bool:
    """Whether a top-level package can be imported, without importing it."""
    return module in sys.modules or importlib.util.find_spec(module) is not None


class Monitor:
    """Fans each logged step out to the chosen loggers. A logger that fails while logging is dropped with a
    warning (a flaky tracking server must not stop a training run); one that fails to start stops the run."""

    def __init__(self, loggers: Mapping[str, MetricLogger], run_dir: Path | None = None) -> None:
        self.loggers = dict(loggers)
        self.run_dir = run_dir  # where report.html goes (None: not this rank's job)

    def log(self, step: int, row: Mapping[str, Any]) -> None:
        scalars = scalars_of(row)
        for name, logger in list(self.loggers.items()):
            try:
                logger.log(step, scalars)
            except Exception as exc:  # noqa: BLE001 - a third-party service; training goes on without it
                log.warning("logger '%s' failed (%s: %s); continuing without it", name, type(exc).__name__, exc)
                self.loggers.pop(name)

    def close(self) -> None:
        for name, logger in self.loggers.items():
            try:
                logger.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("logger '%s' failed to close: %s", name, exc)
        self.loggers.clear()

    def finish(self, status: str | None = None) -> Path | None:
        """Close the loggers and write report.html; at the end of training and when it stops early
        (``status`` says how: "interrupted at step 40"). A report that fails to render is a warning: the
        checkpoint and the adapter matter more."""
        self.close()
        if self.run_dir is None:
            return None
        from .page import write_report

        try:
            path = write_report(self.run_dir, status)
        except Exception as exc:  # noqa: BLE001
            log.warning("report.html could not be written: %s: %s", type(exc).__name__, exc)
            return None
        log.info("report written to %s", path)
        return path


def open_monitor(names: Iterable[str], run_dir: Path, config: dict[str, Any], resume_step: int = 0,
                 enabled: bool = True) -> Monitor:
    """Start the chosen loggers and own the run's report (neither when ``enabled`` is false: ranks other
    than zero)."""
    if not enabled:
        return Monitor({})
    registry = plugins.loggers()
    started: dict[str, MetricLogger] = {}
    for name in validate_loggers(names):
        entry = registry.get(name)
        try:
            started[name] = entry.load()(run_dir, config, resume_step)
        except Exception as exc:
            Monitor(started).close()
            raise PluginError(f"Logger '{name}' could not start: {type(exc).__name__}: {exc}",
                              "Check its settings (login, tracking URI) or drop it from train.loggers.") from exc
    if started:
        log.info("logging metrics to %s", ", ".join(started))
    return Monitor(started, run_dir)
