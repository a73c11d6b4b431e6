"""What ``unigame bench`` measures with: a block's peak memory, round-robin timing, and answering speed.

Peak memory has one meaning per device, stated with every figure (``PeakMemory.KIND``):

* on a GPU, ``torch.cuda.max_memory_allocated`` during the block (tensors only: not the caching
  allocator's reserve, not the CUDA context);
* on a CPU, the largest resident set size (RSS) of the whole process seen during the block: the model's
  weights and everything else the process holds are included, so a block's own cost is its figure minus
  the RSS before it (``PeakMemory.before``). It is the maximum of RSS samples a thread takes every
  ``interval`` seconds and of the process's lifetime peak (``getrusage``) when the block raised it, so a
  spike shorter than the interval is still seen when it is a new high.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

log = logging.getLogger(__name__)

GIB = 2**30
#: answering speed is measured on questions of different lengths, so batched rows need padding
QUESTIONS = ("what is the color of the object on the left side of the picture?", "how many shapes are there?",
             "is the red square left of the blue circle?", "what shape is it?")


def rss_bytes() -> int | None:
    """The process's resident set size now (Linux ``/proc``, else psutil when installed, else None)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


def _lifetime_peak_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if os.uname().sysname == "Darwin" else peak * 1024  # kilobytes on Linux


class PeakMemory:
    """``with PeakMemory(device) as peak: block()`` then ``peak.gib``: the block's peak (see the module doc);
    NaN when the platform gives no reading."""

    def __init__(self, device: torch.device, interval: float = 0.002) -> None:
        self.device, self.interval = device, interval
        self.gib = float("nan")
        self.before = float("nan")  # GiB held when the block started (allocated on a GPU, RSS on a CPU)
        self._stop = threading.Event()
        self._seen = 0

    @staticmethod
    def kind(device: torch.device) -> str:
        return ("CUDA max allocated during the block" if device.type == "cuda"
                else "process RSS, max during the block (weights included)")

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.before = torch.cuda.memory_allocated(self.device) / GIB
            return self
        now = rss_bytes()
        self._seen = now or 0
        self.before = now / GIB if now else float("nan")
        self._lifetime = _lifetime_peak_bytes()
        if now is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._seen = max(self._seen, rss_bytes() or 0)

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.gib = torch.cuda.max_memory_allocated(self.device) / GIB
            return
        self._stop.set()
        if hasattr(self, "_thread"):
            self._thread.join()
        seen = max(self._seen, rss_bytes() or 0)
        lifetime = _lifetime_peak_bytes()
        if lifetime is not None and self._lifetime is not None and lifetime > self._lifetime:
            seen = max(seen, lifetime)  # the block set the process's new high: that high is its peak
        self.gib = seen / GIB if seen else float("nan")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class BlockTiming:
    """One block's figures: the median of its timed repetitions, their list, its warm-up and peak memory."""

    name: str
    seconds: float = float("nan")
    times: list[float] = field(default_factory=list)
    warmup_s: float = float("nan")
    peak_gib: float = float("nan")


class Timer:
    """Collect blocks, then time them round-robin (one repetition of each per round), so that a slow spell
    on a shared machine hits every block alike and the ratios stay honest.

    ``run`` reports as it goes: ``on_block(timing)`` after each block's warm-up (its first time and peak
    memory, the first figures a user sees), ``on_round(k, timings)`` after each round (medians so far)."""

    def __init__(self, device: torch.device, steps: int) -> None:
        self.device, self.steps = device, steps
        self.blocks: list[tuple[str, Callable[[], object], int]] = []

    def __call__(self, name: str, fn: Callable[[], object], per: int = 1) -> None:
        self.blocks.append((name, fn, per))

    def run(self, on_block: Callable[[BlockTiming], None] = lambda t: None,
            on_round: Callable[[int, list[BlockTiming]], None] = lambda k, t: None) -> list[BlockTiming]:
        timings = [BlockTiming(name) for name, _, _ in self.blocks]
        for timing, (_, fn, per) in zip(timings, self.blocks):  # warm-up and peak memory, block by block
            with PeakMemory(self.device) as peak:
                t0 = time.perf_counter()
                fn()
                synchronize(self.device)
                timing.warmup_s = (time.perf_counter() - t0) / per
            timing.peak_gib = peak.gib
            on_block(timing)
        for k in range(self.steps):
            for timing, (_, fn, per) in zip(timings, self.blocks):
                synchronize(self.device)
                t0 = time.perf_counter()
                fn()
                synchronize(self.device)
                timing.times.append((time.perf_counter() - t0) / per)
                timing.seconds = statistics.median(timing.times)
            on_round(k + 1, timings)
        return timings


def answering_rates(backend: Any, batch_sizes: Sequence[int], *, samples: int, max_new_tokens: int,
                    device: torch.device) -> dict[int, float | str]:
    """Greedy answering speed (samples/s) at each batch size, over the same ``samples`` random images and
    questions of different lengths (so every batch size answers exactly the same rows), after one warm-up
    batch each. A batch size that fails (out of memory) records its error instead of a speed."""
    size = backend.image_size
    pixels = torch.rand(samples, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(samples)]
    generate = backend.understander.generate
    model = backend.model
    was_training = model.training
    model.eval()
    rates: dict[int, float | str] = {}
    try:
        for b in batch_sizes:
            try:
                with torch.no_grad():
                    generate(pixels[:b], questions[:b], max_new_tokens)
                    synchronize(device)
                    t0 = time.perf_counter()
                    for k in range(0, samples, b):
                        generate(pixels[k:k + b], questions[k:k + b], max_new_tokens)
                    synchronize(device)
                rates[b] = samples / (time.perf_counter() - t0)
                log.info("answering at batch %d: %.2f samples/s (%d samples, %d new tokens at most)",
                         b, rates[b], samples, max_new_tokens)
            except torch.cuda.OutOfMemoryError as exc:
                rates[b] = f"out of memory: {str(exc).splitlines()[0]}"
                log.warning("answering at batch %d: %s", b, rates[b])
                torch.cuda.empty_cache()
    finally:
        model.train(was_training)
    return rates
