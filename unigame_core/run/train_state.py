"""What a training run holds between steps, and how it goes into a checkpoint and comes back.

``Run`` is what ``runner.setup`` builds once (the run directory, data, backend and players); ``TrainState``
is where the run stands (step and counters, the latest checkpoint, the adversary's latest figures).
``snapshot`` writes both sides to ``checkpoints/step-N`` and ``restore_newest`` reads the newest intact one back
exactly (each damaged one after it named in a warning).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from .. import distributed
from ..errors import DataError
from ..game.health import GameHealth
from ..game.players import Players, StepMetrics
from ..interfaces import Backend, GameSchedule
from . import checkpoint
from .build import Placement, Schedulers
from .sample_capture import TurnSamples

log = logging.getLogger(__name__)

# what ``snapshot`` writes and ``restore`` reads (``health`` is optional: older checkpoints lack it)
STATE_KEYS = ("step", "bad_in_row", "skipped_images", "opt_u", "sched_u", "opt_c", "sched_c", "buffer", "rng",
              "draw_rng")


@dataclass
class Run:
    """What setup builds once: where the run lives and what the game is played with."""

    cfg: DictConfig
    run_dir: Path
    dist: distributed.DistInfo
    where: Placement
    dataset: Any
    peft_model: Any  # the backend's model with LoRA injected (saved as the PEFT adapter)
    players: Players
    schedulers: Schedulers
    schedule: GameSchedule
    health: GameHealth  # the game-health counters (health.py), checkpointed with the run

    @property
    def backend(self) -> Backend:
        return self.players.backend


@dataclass
class TrainState:
    """Where the run stands. The counters go into every checkpoint (``counters``); the rest is for logs."""

    step: int = 0  # completed steps
    bad_in_row: int = 0  # steps in a row with a skipped (non-finite) update
    skipped_images: int = 0  # unreadable training images so far, every rank's
    last_good: Path | None = None  # the newest checkpoint written outside a non-finite streak
    mid_step: bool = False  # True while a step's data, RNG draws and updates are partly consumed
    last_adv: tuple[int, StepMetrics] | None = None  # the adversary's latest turn, for logs between turns
    last_samples: TurnSamples | None = None  # the adversary's latest decodes, for sample grids

    def counters(self) -> dict[str, int]:
        return {"step": self.step, "bad_in_row": self.bad_in_row, "skipped_images": self.skipped_images}

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any], path: Path) -> TrainState:
        return cls(step=saved["step"], bad_in_row=saved["bad_in_row"], skipped_images=saved["skipped_images"],
                   last_good=path)


def snapshot(run: Run, state: TrainState) -> None:
    """Write ``checkpoints/step-N`` (every rank takes part: the RNG states are gathered)."""
    p, sched = run.players, run.schedulers
    saved = {
        **state.counters(),
        "opt_u": p.opt_u.state_dict(), "sched_u": sched.lora.state_dict(),
        "opt_c": p.opt_c.state_dict() if p.opt_c else None,
        "sched_c": sched.perturber.state_dict() if sched.perturber else None,
        "buffer": p.buffer.state_dict(), "rng": _gather_rng(p.generator), "draw_rng": p.draw_generator.get_state(),
        "health": run.health.state_dict(),
    }
    if run.dist.main:
        # during a non-finite streak: save (to resume from) but never prune the last good checkpoints
        path = checkpoint.save_checkpoint(run.run_dir, state.step, run.peft_model, p.perturber, saved,
                                          run.cfg.train.keep_checkpoints, prune=state.bad_in_row == 0)
        if state.bad_in_row == 0:
            state.last_good = path
    distributed.barrier()


def restore_newest(run: Run) -> TrainState | None:
    """The newest checkpoint that reads back whole, restored; each damaged one after it named in a warning.
    None without any checkpoint; a DataError listing each one (and why) when none is intact."""
    damaged: list[checkpoint.DamagedCheckpoint] = []
    for path in reversed(checkpoint.step_dirs(run.run_dir)):
        try:
            saved = checkpoint.read_checkpoint(path, perturber=run.players.perturber is not None, keys=STATE_KEYS)
        except checkpoint.DamagedCheckpoint as exc:
            damaged.append(exc)
            continue
        state = restore(run, path, saved)
        for exc in damaged:
            log.warning("%s Resuming from step %d instead.", exc.message, state.step)
        return state
    if damaged:
        raise DataError(
            f"No checkpoint in '{run.run_dir / 'checkpoints'}' can be resumed from: "
            + "; ".join(f"{exc.path.name} {exc.reason}" for exc in damaged) + ".",
            "Pass --overwrite to train it again from step 0.",
        )
    return None


def restore(run: Run, path: Path, saved: checkpoint.Saved) -> TrainState:
    """Put the checkpoint read from ``path`` into the players and schedules; the state it was written in."""
    from peft import set_peft_model_state_dict

    p, sched = run.players, run.schedulers
    set_peft_model_state_dict(run.peft_model, saved.adapter)
    if p.perturber is not None and saved.perturber is not None:
        p.perturber.load_state_dict(saved.perturber)
    state = saved.state
    p.opt_u.load_state_dict(state["opt_u"])
    sched.lora.load_state_dict(state["sched_u"])
    if p.opt_c is not None and sched.perturber is not None:
        p.opt_c.load_state_dict(state["opt_c"])
        sched.perturber.load_state_dict(state["sched_c"])
    p.buffer.load_state_dict(state["buffer"])
    checkpoint.restore_rng(state["rng"][run.dist.rank], p.generator)
    p.draw_generator.set_state(state["draw_rng"])
    run.health.load_state_dict(state.get("health"))
    return TrainState.from_checkpoint(state, path)


def _gather_rng(generator: torch.Generator) -> list[dict[str, Any]]:
    """Every rank's RNG state (rank r restores entry r)."""
    mine = checkpoint.rng_state(generator)
    if not distributed.is_active():
        return [mine]
    gathered: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, mine)
    return gathered
