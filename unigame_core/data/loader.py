"""Deterministic, resumable batching: the data position is just the step number.

Global sample position ``pos`` maps to ``perm_epoch[pos % n]`` with ``epoch = pos // n`` and a
permutation seeded by ``(seed, epoch)``. Step ``s`` covers positions ``[s*G, (s+1)*G)`` for a global
batch ``G``; rank ``r`` takes its contiguous slice of that range. Resuming at step ``s`` therefore
needs no saved iterator state, and one process with batch ``G`` sees exactly the union of what
``world`` ranks see.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import DataError
from ..interfaces import VQABatch


class StepBatchSampler(Sampler[list[int]]):
    def __init__(self, n: int, *, global_batch: int, seed: int, rank: int = 0, world: int = 1,
                 start_step: int = 0, steps: int) -> None:
        self.n, self.global_batch, self.seed = n, global_batch, seed
        self.rank, self.world = rank, world
        self.start_step, self.steps = start_step, steps
        self.per_rank = global_batch // world
        self._perms: dict[int, Tensor] = {}

    def _perm(self, epoch: int) -> Tensor:
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._perms = {epoch: torch.randperm(self.n, generator=g)}
        return self._perms[epoch]

    def indices(self, step: int) -> list[int]:
        first = step * self.global_batch + self.rank * self.per_rank
        return [int(self._perm(pos // self.n)[pos % self.n]) for pos in range(first, first + self.per_rank)]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.steps):
            yield self.indices(step)

    def __len__(self) -> int:
        return max(self.steps - self.start_step, 0)


@dataclass
class Collate:
    """Resize/pad every image with the backend's transform (in the worker) and stack uint8."""

    transform: Callable[[Tensor], Tensor]

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        kept = [it for it in items if it["image"] is not None]
        images = (
            torch.stack([self.transform(it["image"]) for it in kept])
            if kept
            else torch.empty(0, 3, 1, 1, dtype=torch.uint8)
        )
        return {
            "images": images,
            "questions": [it["question"] for it in kept],
            "answers": [it["answer"] for it in kept],
            "ids": [str(it["id"]) for it in kept],
            "skipped": len(items) - len(kept),
            "errors": [it["error"] for it in items if it.get("error")],  # image_errors=fail, raised by the watch
        }


class UnreadableWatch:
    """Iterates a loader's batches and stops, with one sentence, when the images cannot be read.

    * an image error carried by the batch (``image_errors=fail`` in a worker process) is raised here;
    * no image read yet after ``first`` tries: the data's images are all unreadable (a run of empty
      batches would otherwise end as "non-finite losses", or finish having learnt nothing);
    * ``streak`` unreadable images in a row later on: the rest of the data has gone (a lost mount).
    With several ranks, ``totals`` sums ``[read, skipped, failed]`` over ranks each batch (one collective),
    so every rank counts the global batch and every rank stops at the same batch: a rank that stopped
    alone would leave the others waiting in the step's collectives.
    """

    def __init__(self, batches: Iterable[dict[str, Any]], first: int = 16, streak: int = 256,
                 totals: Callable[[list[int]], list[int]] | None = None) -> None:
        self.batches, self.first, self.streak = batches, first, streak
        self.totals = totals or (lambda counts: counts)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        read = tried = in_row = 0
        for raw in self.batches:
            n_read, n_skipped, failed = self.totals([len(raw["questions"]), raw["skipped"], int(bool(raw.get("errors")))])
            if failed:
                raise DataError(raw["errors"][0] if raw.get("errors") else
                                "Training stopped: another rank could not read one of its images (image_errors=fail).")
            read, tried = read + n_read, tried + n_read + n_skipped
            in_row = 0 if n_read else in_row + n_skipped
            if not read and tried >= self.first:
                raise DataError(f"None of the first {tried} training images could be read: every batch is empty.",
                                "The warnings above name the files; check where the images are.")
            if in_row >= self.streak:
                raise DataError(f"The last {in_row} training images in a row could not be read.",
                                "The warnings above name the files; check that the image folder is still there.")
            raw["skipped_everywhere"] = n_skipped  # every rank's, summed above: the runner counts these
            yield raw

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]


def make_loader(dataset: Dataset, transform: Callable[[Tensor], Tensor], *, global_batch: int, seed: int,
                rank: int, world: int, start_step: int, steps: int, num_workers: int,
                totals: Callable[[list[int]], list[int]] | None = None) -> UnreadableWatch:
    """The step-indexed batches of ``dataset`` (see the module docstring), watched for unreadable images
    (``totals``: the sum over ranks, see :class:`UnreadableWatch`)."""
    sampler = StepBatchSampler(
        len(dataset),
        global_batch=global_batch,
        seed=seed,
        rank=rank,
        world=world,  # type: ignore[arg-type]
        start_step=start_step,
        steps=steps,
    )
    return UnreadableWatch(DataLoader(dataset, batch_sampler=sampler, collate_fn=Collate(transform),
                                      num_workers=num_workers, persistent_workers=False,
                                      worker_init_fn=ignore_interrupts if num_workers else None,
                                      pin_memory=torch.cuda.is_available()), totals=totals)


def ignore_interrupts(worker_id: int) -> None:
    """Data workers ignore Ctrl-C: the main process finishes the step, checkpoints and stops them itself
    (a worker killed by SIGINT would end the run with "DataLoader worker exited unexpectedly" instead)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def to_device(raw: dict[str, Any], device: torch.device) -> VQABatch:
    """uint8 CPU batch -> float pixels in [0, 1] on the device (the step never sees PIL or numpy)."""
    images = raw["images"].to(device, non_blocking=True).float().div_(255.0)
    return VQABatch(images=images, questions=raw["questions"], answers=raw["answers"], ids=raw["ids"])
