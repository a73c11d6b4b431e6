"""Run by torchrun in test_ddp.py: the fake backend, a gate that keeps samples on rank 0 only, and a data set
whose images are all unreadable on rank 1."""

from __future__ import annotations

import json
import os
import sys
import types

import torch

from unigame_core import hookimpl, plugins, testing
from unigame_core.config import build_config
from unigame_core.game.buffer import HardBuffer
from unigame_core.game.settings import HardBufferConfig
from unigame_core.interfaces import GateInput, GateResult, Validator
from unigame_core.run.runner import run_training
from unigame_core.testing import FakeVQA


class RankZeroOnly(Validator):
    """Every other rank's buffer stays empty: the job must still not hang."""

    def __init__(self, cfg: object = None, device: object = None) -> None:
        self.rank = int(os.environ.get("RANK", "0"))

    def check(self, pair: GateInput) -> GateResult:
        n = pair.adv_pixels.shape[0]
        return GateResult(keep=torch.full((n,), self.rank == 0), score=torch.ones(n))


class UnreadableOnRankOne(FakeVQA):
    """Rank 1's whole batch of the second step is unreadable: that rank must still take every collective."""

    reads = 0

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        UnreadableOnRankOne.reads += 1
        if os.environ.get("RANK") == "1" and 4 < UnreadableOnRankOne.reads <= 8:  # num_workers=0: in order
            item["image"] = None
        return item


class DarkOnRankOne(FakeVQA):
    """Rank 1 never reads an image: only the global count (rank 0 reads all of its) tells data from no data."""

    def __getitem__(self, i: int) -> dict:
        item = super().__getitem__(i)
        if os.environ.get("RANK") == "1":
            item["image"] = None
        return item


def dark_dataset(location: str, *, image_errors: str = "skip", seed: int = 0) -> FakeVQA:
    return DarkOnRankOne(int(location or 64), seed=seed)


def holey_dataset(location: str, *, image_errors: str = "skip", seed: int = 0) -> FakeVQA:
    return UnreadableOnRankOne(int(location or 64), seed=seed)


class RecordingBuffer(HardBuffer):
    """Writes the hardness after every re-scoring to ``$RESCORE_LOG.rank<R>``: the ranks' buffers must agree."""

    def rescore(self, ce: torch.Tensor) -> None:
        super().rescore(ce)
        with open(f"{os.environ['RESCORE_LOG']}.rank{os.environ.get('RANK', '0')}", "a") as f:
            f.write(json.dumps(self.hardness.tolist()) + "\n")


gates = types.ModuleType("ddp_test_gates")


@hookimpl
def unigame_register_validators(validators):  # noqa: ANN001, ANN201
    validators.add("rank0only", "ddp_worker:RankZeroOnly")


@hookimpl
def unigame_register_buffers(buffers):  # noqa: ANN001, ANN201
    buffers.add("recording", "ddp_worker:RecordingBuffer", config=HardBufferConfig)


@hookimpl
def unigame_register_datasets(datasets):  # noqa: ANN001, ANN201
    datasets.add("holey", "ddp_worker:holey_dataset")
    datasets.add("dark1", "ddp_worker:dark_dataset")


gates.unigame_register_validators = unigame_register_validators  # type: ignore[attr-defined]
gates.unigame_register_datasets = unigame_register_datasets  # type: ignore[attr-defined]
gates.unigame_register_buffers = unigame_register_buffers  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.modules.setdefault("ddp_worker", sys.modules["__main__"])
    plugins.register_plugin(testing, "fake")
    plugins.register_plugin(gates, "ddp-gates")
    run_training(build_config("fake-tiny", None, sys.argv[1:]))
