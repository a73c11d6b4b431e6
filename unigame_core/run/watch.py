"""Two guards around the loop: a deferred Ctrl-C, and a watch for runs that diverge while staying finite.

Ctrl-C (or SIGTERM, what schedulers and torchrun send) only *requests* a stop: the current step finishes,
so the checkpoint written then holds a completed step (its data, RNG draws and updates all consumed) and
resumes exactly. A second Ctrl-C stops at once, without a checkpoint. Under torchrun the ranks agree on the
stop with one all-reduce per step, so they all checkpoint the same step.

A non-finite loss is caught by the step itself; a run with a far too high learning rate can instead stay
finite and drift into garbage (clean CE stuck far above where it started, LoRA weights blown up). The
watch flags that, so the run says so loudly instead of exiting 0 with a useless adapter as if all went well.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import torch

from .. import distributed

log = logging.getLogger(__name__)


class StopRequest:
    """A context in which SIGINT/SIGTERM set a flag that the loop checks between steps."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signal handlers only work there
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("stop requested: finishing this step, then saving a checkpoint (Ctrl-C again to stop at once)")

    def agreed(self, device: torch.device) -> bool:
        """True on every rank when any rank was asked to stop (a collective: call it on every rank, every step)."""
        return distributed.any_true(self.requested, device)


@dataclass
class DivergenceWatch:
    """Flags a finite but runaway run: clean CE above ``factor`` x its early level (the lowest of its first
    ``early_steps``) and ``margin`` nats over it, for ``window`` steps in a row; or a LoRA weight norm over
    ``weight_ratio`` x its initial norm (AdamW moves each weight by about the learning rate per step, so only
    an absurd rate gets there)."""

    early_steps: int = 5
    window: int = 10
    factor: float = 3.0
    margin: float = 1.0
    weight_ratio: float = 1000.0
    early: list[float] = field(default_factory=list)
    high_in_row: int = 0
    initial_norm: float | None = None
    verdict: dict[str, Any] | None = None

    def observe(self, step: int, ce_clean: float, lora_norm: float) -> dict[str, Any] | None:
        """Feed one step; returns the verdict the first time the run looks diverged (then keeps it)."""
        if self.initial_norm is None:
            self.initial_norm = lora_norm
        if self.verdict is not None:
            return None
        reason = None
        if self.initial_norm > 0 and lora_norm > self.weight_ratio * self.initial_norm:
            reason = f"the LoRA weight norm grew {lora_norm / self.initial_norm:.3g}x (from {self.initial_norm:.3g})"
        elif math.isfinite(ce_clean):
            if len(self.early) < self.early_steps:
                self.early.append(ce_clean)
            else:
                level = min(self.early)
                high = ce_clean > max(self.factor * level, level + self.margin)
                self.high_in_row = self.high_in_row + 1 if high else 0
                if self.high_in_row >= self.window:
                    reason = (f"the clean CE has stayed above {max(self.factor * level, level + self.margin):.3g} "
                              f"(early level {level:.3g}, now {ce_clean:.3g}) for {self.high_in_row} steps")
        if reason is None:
            return None
        self.verdict = {"step": step, "reason": reason, "ce_clean": ce_clean, "lora_norm": lora_norm}
        return self.verdict


def weight_norm(params: list[torch.nn.Parameter]) -> float:
    with torch.no_grad():
        return float(torch.linalg.vector_norm(torch.stack([p.detach().float().norm() for p in params])))
