"""Run by torchrun in test_ddp.py: the fake backend, plus a gate that keeps samples on rank 0 only."""

from __future__ import annotations

import os
import sys
import types

import torch

from unigame_core import hookimpl, plugins, testing
from unigame_core.config import build_config
from unigame_core.game.runner import run_training
from unigame_core.interfaces import GateInput, GateResult, Validator


class RankZeroOnly(Validator):
    """Every other rank's buffer stays empty: the job must still not hang."""

    def __init__(self, cfg: object = None, device: object = None) -> None:
        self.rank = int(os.environ.get("RANK", "0"))

    def check(self, pair: GateInput) -> GateResult:
        n = pair.adv_pixels.shape[0]
        return GateResult(keep=torch.full((n,), self.rank == 0), score=torch.ones(n))


gates = types.ModuleType("ddp_test_gates")


@hookimpl
def unigame_register_validators(validators):  # noqa: ANN001, ANN201
    validators.add("rank0only", "ddp_worker:RankZeroOnly")


gates.unigame_register_validators = unigame_register_validators  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.modules.setdefault("ddp_worker", sys.modules["__main__"])
    plugins.register_plugin(testing, "fake")
    plugins.register_plugin(gates, "ddp-gates")
    run_training(build_config("fake-tiny", None, sys.argv[1:]))
