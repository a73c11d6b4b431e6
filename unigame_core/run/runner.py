"""``unigame train``: the UniGame training loop, top to bottom.

Algorithm (arXiv 2511.19413): the understander U (LoRA on the LLM) and a small perturber C play
    min_U max_C  L_U + lambda * L_C
with alternating updates. Each step C pushes the shared visual tokens, the model's own decoder
turns them into real images, and U must still answer; samples U loses (per-sample hardness over
tau, past the semantic gate) go to a hard buffer that U relearns from alongside the clean batch.

Where this departs from the paper's public code (see METHOD.md): hardness is per sample, buffered
samples keep their own labels, the CLIP gate rejects low similarity, mining decodes the perturbed
tokens directly (no autoregressive generation), LoRA stays fp32, and every rank runs the same passes.

``run_training`` reads in four parts:
    setup         check the run directory, find the data, build backend + LoRA and the players (``build``)
    resume_state  restore the last checkpoint exactly (``train_state.restore_newest``), or start at step 0
    play          per batch: ``game_step`` (adversary turn, gate, mining, understander turn; see ``step``),
                  the LR schedules, logs, samples, the divergence watch, checkpoints every N steps
    finish        the last checkpoint, the PEFT adapter and perturber, the before/after table, the report
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
from omegaconf import DictConfig, OmegaConf

from .. import distributed
from ..data.loader import make_loader, to_device
from ..errors import TrainingAborted
from ..game.health import GameHealth, rescore_buffer
from ..game.players import StepMetrics
from ..game.step import game_step
from ..interfaces import VQABatch
from ..report.monitor import Monitor, open_monitor
from . import build, checkpoint, preflight, rundir
from .progress import TrainProgress
from .sample_capture import TurnSamples, write_samples
from .train_state import Run, TrainState, restore_newest, snapshot
from .watch import DivergenceWatch, StopRequest, weight_norm

log = logging.getLogger(__name__)


def run_training(cfg: DictConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Play the game and write the run directory. An occupied run directory needs ``resume`` (continue it)
    or ``overwrite`` (replace it); one in use by another run is refused (see ``rundir``)."""
    joined = join(cfg)
    with rundir.owned(Path(cfg.train.output_dir), joined[0].main):  # locked; released (or removed) at the end
        run = setup(cfg, resume, overwrite, joined)
        state = resume_state(run, resume)
        main = run.dist.main
        before = _before_scores(cfg, run.backend, run.run_dir, state.step) if (cfg.train.eval_suites and main) \
            else None
        watchers = Watchers(
            open_monitor(cfg.train.loggers, run.run_dir, OmegaConf.to_container(cfg, resolve=True), state.step, main),
            DivergenceWatch(initial_norm=weight_norm(run.players.lora_params)),
        )
        play(run, state, watchers)
        finish(run, state, watchers, before)
    return run.run_dir


@dataclass
class Watchers:
    """What observes the game without playing it: the metric loggers (and report), the divergence watch."""

    monitor: Monitor
    divergence: DivergenceWatch


def join(cfg: DictConfig) -> tuple[distributed.DistInfo, build.Placement]:
    """This process's rank (the process group joined under torchrun) and where it computes."""
    t = cfg.train
    where = build.placement(t.device, t.precision)
    dist_info = distributed.init(where.device.type)
    if dist_info.world > 1:
        where = build.placement(t.device if t.device != "auto" else "auto", t.precision, dist_info.local_rank)
    return dist_info, where


def setup(cfg: DictConfig, resume: bool, overwrite: bool,
          joined: tuple[distributed.DistInfo, build.Placement] | None = None) -> Run:
    """The run directory checked, the data found, then the players built (the same on every rank);
    ``joined``: what ``join`` already returned for this run."""
    dist_info, where = joined if joined is not None else join(cfg)
    run_dir = Path(cfg.train.output_dir)
    rundir.check_output(run_dir, resume, overwrite)  # every rank checks before any rank writes
    distributed.barrier()
    return _build_run(cfg, run_dir, dist_info, where)


def _build_run(cfg: DictConfig, run_dir: Path, dist_info: distributed.DistInfo, where: build.Placement) -> Run:
    t = cfg.train
    torch.manual_seed(t.seed)  # the same initial LoRA and perturber on every rank

    # Before minutes of model loading: the data, the gate, the model's weights; every problem at once.
    ready = preflight.check(cfg, where, dist_info.world)
    # The players: the frozen model with LoRA (understander) and the perturber (adversary).
    backend = build.build_backend(cfg, where)
    peft_model, lora_params = build.build_lora(cfg, backend)
    players, schedulers = build.build_players(cfg, backend, lora_params, where.device, dist_info.rank, ready.gate)
    if dist_info.world > 1:
        perturber = players.perturber
        distributed.broadcast_params(lora_params + (list(perturber.parameters()) if perturber is not None else []))
        torch.manual_seed(t.seed + dist_info.rank)  # from here on each rank draws its own (e.g. LoRA dropout)
    health = GameHealth(OmegaConf.to_object(cfg.health))  # game health (health.py)
    return Run(cfg, run_dir, dist_info, where, ready.dataset, peft_model, players, schedulers,
               build.build_schedule(cfg), health)


def resume_state(run: Run, resume: bool) -> TrainState:
    """Where to start: the last checkpoint restored exactly (``resume``), or step 0 in a cleared directory."""
    state = TrainState()
    if resume:
        found = restore_newest(run)
        if found is None:
            log.warning("no checkpoint in %s: starting it again from step 0", run.run_dir)
        else:
            state = found
            log.info("resuming from %s at step %d", state.last_good, state.step)
            if state.step >= run.cfg.train.steps:
                log.warning("the run already played %d steps and train.steps=%d: nothing is left to train; it writes "
                            "the adapter of step %d%s and ends", state.step, run.cfg.train.steps, state.step,
                            " and the before/after table" if run.cfg.train.eval_suites else "")
    if run.dist.main:
        rundir.create(run.run_dir, clear=not (resume and state.step))  # a fresh run never mixes with an earlier one
        rundir.truncate_metrics(run.run_dir, state.step)  # steps after the checkpoint are played (and logged) again
        (run.run_dir / "config.yaml").write_text(OmegaConf.to_yaml(run.cfg))
    distributed.barrier()
    return state


def play(run: Run, state: TrainState, watchers: Watchers) -> None:
    """The game, step by step, until ``train.steps``. Ctrl-C / SIGTERM ends it after a completed step, with a
    checkpoint to resume from; ``train.max_bad_steps`` non-finite steps in a row abort it."""
    t, main = run.cfg.train, run.dist.main
    loader = make_loader(run.dataset, run.backend.image_transform(), global_batch=t.batch_size, seed=t.seed,
                         rank=run.dist.rank, world=run.dist.world, start_step=state.step, steps=t.steps,
                         num_workers=run.cfg.data.num_workers,
                         totals=lambda counts: distributed.all_sums(counts, run.where.device))
    progress = TrainProgress(total=t.steps, start=state.step, enabled=main, every=t.log_every, health=run.health)
    stop = StopRequest()
    try:
        with progress, stop:
            for raw in loader:
                state.mid_step = True  # the step's data, RNG draws and updates are partly consumed
                tick = time.perf_counter()
                state.skipped_images += raw["skipped_everywhere"]  # every rank's (summed by the loader's watch)
                batch = to_device(raw, run.where.device)
                metrics = game_step(run.players, batch, run.schedule.plan(state.step))  # every rank (collectives)
                advance_schedules(run.schedulers.lora, run.schedulers.perturber)
                run.health.observe(metrics)
                state.bad_in_row = state.bad_in_row + 1 if metrics.skipped else 0
                state.step += 1
                if run.cfg.game.rescore_every and state.step % run.cfg.game.rescore_every == 0:
                    rescore_buffer(run.players)  # stale hardness would freeze the buffer (health.py)
                state.mid_step = False
                rate = len(batch) * run.dist.world / max(time.perf_counter() - tick, 1e-9)
                _record(run, state, watchers, progress, batch, metrics, rate)
                if state.bad_in_row >= t.max_bad_steps:
                    _abort(state, watchers.monitor, metrics)
                if stop.agreed(run.where.device) and state.step < t.steps:  # stop after a completed step
                    raise KeyboardInterrupt
                if t.checkpoint_every and state.step % t.checkpoint_every == 0 and state.step < t.steps \
                        and not state.bad_in_row:
                    snapshot(run, state)
    except KeyboardInterrupt:
        if state.mid_step:  # a second Ctrl-C: this step is half played, a checkpoint would not resume exactly
            log.warning("stopped during step %d without a checkpoint; the last one is %s", state.step + 1,
                        state.last_good)
        else:
            snapshot(run, state)
            log.warning("interrupted after step %d; continue exactly with: unigame train --resume %s", state.step,
                        run.run_dir)
        watchers.monitor.finish(f"interrupted at step {state.step}")
        raise


def _record(run: Run, state: TrainState, watchers: Watchers, progress: TrainProgress, batch: VQABatch,
            metrics: StepMetrics, rate: float) -> None:
    """After a step: the divergence watch, progress, metric lines, sample grids (clean | round trip | adversarial,
    with the model's answers: ``sample_capture``)."""
    t, main, step = run.cfg.train, run.dist.main, state.step
    verdict = watchers.divergence.observe(step, metrics.ce_clean, weight_norm(run.players.lora_params))
    if verdict is not None and main:
        _warn_diverged(run.run_dir, verdict)
    progress.update(step, metrics, rate)
    if metrics.adversary_played:
        state.last_adv = (step, metrics)
    if main and (step % t.log_every == 0 or step == t.steps or metrics.skipped):
        window = run.health.close_window(step)  # this logging window's game health (warns on a new failure)
        window = {**window, **run.schedulers.rates()}  # lr_lora, lr_perturber
        row = _log_metrics(run.run_dir, step, metrics, rate, state.skipped_images, state.last_adv, window)
        watchers.monitor.log(step, row)
    if metrics.adv_images is not None and main:
        state.last_samples = TurnSamples.of(step, batch, metrics.adv_images)
    if main and t.sample_every and step % t.sample_every == 0 and state.last_samples is not None:
        write_samples(run.backend, run.players.settings.coupling, state.last_samples, step, run.run_dir / "samples")


def _abort(state: TrainState, monitor: Monitor, metrics: StepMetrics) -> NoReturn:
    monitor.finish(f"stopped at step {state.step}: non-finite losses")
    what = "had no readable image" if metrics.empty else "had non-finite losses"
    raise TrainingAborted(
        f"Training stopped: {state.bad_in_row} steps in a row {what}.",
        (f"The last good checkpoint is {state.last_good}; " if state.last_good is not None
         else "No checkpoint was written before; ") + "lower the learning rates or eps.",
    )


def finish(run: Run, state: TrainState, watchers: Watchers, before: dict[str, Any] | None) -> None:
    """The outputs: a last checkpoint (not in a non-finite streak), the PEFT adapter, the perturber, the
    before/after table, the report."""
    run_dir = run.run_dir
    if state.bad_in_row:
        log.warning("the run ended in %d non-finite steps: no final checkpoint (last good: %s)", state.bad_in_row,
                    state.last_good)
    else:
        snapshot(run, state)
    if run.dist.main:
        run.peft_model.save_pretrained(str(run_dir / "adapter"))
        checkpoint.save_perturber(run.players.perturber, run_dir / "perturber.safetensors")
        log.info("adapter written to %s (load with peft.PeftModel.from_pretrained)", run_dir / "adapter")
        if state.skipped_images:
            log.warning("%d unreadable training images were skipped", state.skipped_images)
        verdict = watchers.divergence.verdict
        if verdict is not None:
            log.warning("this run DIVERGED at step %d (%s): the adapter in %s is likely useless (%s)",
                        verdict["step"], verdict["reason"], run_dir / "adapter", run_dir / "divergence.json")
    if before is not None:
        _report(before, _evaluate(run.cfg, run.backend, "after"), run_dir)
    watchers.monitor.finish()


def _warn_diverged(run_dir: Path, verdict: dict[str, Any]) -> None:
    """Say it loudly and leave a record in the run directory (``divergence.json``)."""
    log.warning("training is diverging at step %d: %s. Lower optim.lr_lora (and optim.lr_perturber).",
                verdict["step"], verdict["reason"])
    (run_dir / "divergence.json").write_text(json.dumps(verdict, indent=2))


def _log_metrics(run_dir: Path, step: int, m: StepMetrics, rate: float, skipped_images: int,
                 last_adv: tuple[int, StepMetrics] | None, window: dict[str, Any]) -> dict[str, Any]:
    """One JSON line (returned for the metric loggers); the adversary's figures come from its latest turn
    (``adversary_step``), the buffer traffic, health flags and ``*_window`` means from the logging ``window``."""
    adv_step, a = last_adv if last_adv is not None else (None, m)
    row = {
        "step": step, "loss_u": m.loss_u, "ce_clean": m.ce_clean, "ce_buffer": m.ce_buffer,
        "adversary_step": adv_step, "ce_adv": a.ce_adv, "ce_start": a.ce_start, "delta_norm": a.delta_norm,
        "delta_bound": a.delta_bound, "gate_pass": a.gate_pass, "mined": a.mined, "hardness": a.hardness,
        "eps": a.eps, "beta": m.beta, "buffer": m.buffer_size, "tau": m.tau,
        "skipped_updates": m.skipped, "skipped_images": skipped_images, "samples_per_s": rate,
        "ce_round_trip": a.ce_round_trip, "delta_saturation": a.delta_saturation, "tokens_changed": a.tokens_changed,
        **window,
    }
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}) + "\n")
    return row


def _before_scores(cfg: DictConfig, backend: Any, run_dir: Path, start: int) -> Any:
    """The before-training scores, kept in before.json: a resumed run reads them back, so it still ends
    with the before/after table."""
    path = run_dir / "before.json"
    if start == 0:
        before = _evaluate(cfg, backend, "before")
        path.write_text(json.dumps(before, indent=2))
        return before
    if not path.exists():  # the weights are already trained: scoring them now would not be "before"
        log.warning("no %s: this resumed run ends without the before/after table", path)
        return None
    log.info("before-training scores from %s", path)
    return json.loads(path.read_text())


def _evaluate(cfg: DictConfig, backend: Any, when: str) -> dict[str, Any]:
    """Scores with per-question rows (JSON-ready, ``eval.judge.to_document``), so before/after can be paired."""
    from ..eval.judge import to_document
    from ..eval.runner import evaluate_backend

    log.info("evaluating %s training: %s", when, ", ".join(cfg.train.eval_suites))
    root = Path(cfg.train.eval_data_root) if cfg.train.eval_data_root else None
    results = evaluate_backend(
        backend, list(cfg.train.eval_suites), data_root=root, limit=cfg.train.eval_limit, batch_size=32
    )
    return to_document(results)


def _report(before: dict[str, Any], after: dict[str, Any], run_dir: Path) -> None:
    """The before/after table (n, 95 % intervals, a paired verdict per metric) and ``before_after.json``."""
    from ..eval.judge import compare, from_document, print_comparison

    rows = compare(from_document(before), from_document(after))
    print_comparison(rows, "UniGame: before / after")
    (run_dir / "before_after.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2))


def advance_schedules(*schedulers: torch.optim.lr_scheduler.LRScheduler | None) -> None:
    """One step of each learning-rate schedule. Schedules follow the game's step count, also on steps whose
    update was skipped (a non-finite loss, or the adversary not playing yet), so torch's warning about a
    schedule stepping before its optimizer does not apply and is silenced here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        for scheduler in schedulers:
            if scheduler is not None:
                scheduler.step()
