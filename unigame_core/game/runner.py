"""``unigame train``: the UniGame training loop, top to bottom.

Algorithm (arXiv 2511.19413): the understander U (LoRA on the LLM) and a small perturber C play
    min_U max_C  L_U + lambda * L_C
with alternating updates. Each step C pushes the shared visual tokens, the model's own decoder
turns them into real images, and U must still answer; samples U loses (per-sample hardness over
tau, past the semantic gate) go to a hard buffer that U relearns from alongside the clean batch.

Where this departs from the paper's public code (see METHOD.md): hardness is per sample, buffered
samples keep their own labels, the CLIP gate rejects low similarity, mining decodes the perturbed
tokens directly (no autoregressive generation), LoRA stays fp32, and every rank runs the same passes.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ..data.loader import make_loader, to_device
from ..errors import DataError, TrainingAborted
from ..lora import attach_lora
from . import build, checkpoint, distributed, rundir
from .health import GameHealth, rescore_buffer
from .monitor import open_monitor
from .progress import TrainProgress
from .samples import save_pairs
from .step import Players, StepMetrics, game_step
from .watch import DivergenceWatch, StopRequest, weight_norm

log = logging.getLogger(__name__)


def run_training(cfg: DictConfig, resume: bool = False, overwrite: bool = False) -> Path:
    """Play the game and write the run directory. An occupied run directory needs ``resume`` (continue it)
    or ``overwrite`` (replace it); see ``rundir``."""
    t = cfg.train
    where = build.placement(t.device, t.precision)
    dist_info = distributed.init(where.device.type)
    if dist_info.world > 1:
        where = build.placement(t.device if t.device != "auto" else "auto", t.precision, dist_info.local_rank)
    run_dir = Path(t.output_dir)
    rundir.check_output(run_dir, resume, overwrite)  # every rank checks before any rank writes
    rundir.create(run_dir, clear=False)
    distributed.barrier()
    torch.manual_seed(t.seed)  # the same initial LoRA and perturber on every rank

    # 1. The data first: a wrong path should fail before minutes of model loading.
    dataset = build.build_dataset(cfg.data.spec, cfg.data.image_errors, t.seed)
    if t.batch_size % dist_info.world:
        raise DataError(f"train.batch_size {t.batch_size} is not divisible by the {dist_info.world} ranks.")

    # 2. The players: the frozen model with LoRA (understander) and the perturber (adversary).
    backend = build.build_backend(cfg, where)
    peft_model, lora_params = attach_lora(backend, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout)
    perturber = build.build_perturber(cfg, backend, where.device)
    opt_u, sched_u, opt_c, sched_c = build.optimizers(cfg, lora_params, perturber)
    generator = torch.Generator().manual_seed(t.seed * 1_000_003 + dist_info.rank)  # this rank's own noise
    draw_generator = torch.Generator().manual_seed(t.seed * 1_000_003 + 7_919)  # buffer draws: same on all ranks
    players = Players(
        backend=backend, coupling=cfg.game.coupling, perturber=perturber, lora_params=lora_params,
        opt_u=opt_u, opt_c=opt_c, gate=build.build_gate(cfg, where.device), buffer=build.build_buffer(cfg),
        eps_max=cfg.game.eps_max, lambda_reg=cfg.game.lambda_reg, adversary_fraction=cfg.game.adversary_fraction,
        buffer_fraction=cfg.game.buffer_fraction,
        grad_clip=cfg.optim.grad_clip, hardness_reference=cfg.game.hardness_reference, generator=generator,
        draw_generator=draw_generator,
    )
    if dist_info.world > 1:
        distributed.broadcast_params(lora_params + (list(perturber.parameters()) if perturber is not None else []))
        torch.manual_seed(t.seed + dist_info.rank)  # from here on each rank draws its own (e.g. LoRA dropout)
    schedule = build.build_schedule(cfg)
    health = GameHealth(OmegaConf.to_object(cfg.health))  # game health (health.py)

    # 3. Resume exactly where the last checkpoint left off (or start a fresh run directory).
    start, bad_in_row, skipped_images = 0, 0, 0
    last_good: Path | None = None  # the newest checkpoint written outside a non-finite streak
    if resume:
        checkpoint.refuse_legacy(run_dir)
    if resume and checkpoint.list_checkpoints(run_dir):
        last_good = checkpoint.list_checkpoints(run_dir)[-1]
        state = checkpoint.load_checkpoint(last_good, peft_model, perturber)
        opt_u.load_state_dict(state["opt_u"]), sched_u.load_state_dict(state["sched_u"])
        if opt_c is not None:
            opt_c.load_state_dict(state["opt_c"]), sched_c.load_state_dict(state["sched_c"])
        players.buffer.load_state_dict(state["buffer"])
        checkpoint.restore_rng(state["rng"][dist_info.rank], generator)
        draw_generator.set_state(state["draw_rng"])
        health.load_state_dict(state.get("health"))
        start, bad_in_row, skipped_images = state["step"], state["bad_in_row"], state["skipped_images"]
        log.info("resuming from %s at step %d", last_good, start)
    elif resume:
        log.warning("no checkpoint in %s: starting it again from step 0", run_dir)
    if dist_info.main:
        rundir.create(run_dir, clear=not (resume and start))  # a fresh run never mixes with an earlier one's files
        rundir.truncate_metrics(run_dir, start)  # steps after the checkpoint are played (and logged) again
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    distributed.barrier()

    before = _before_scores(cfg, backend, run_dir, start) if (t.eval_suites and dist_info.main) else None

    def snapshot(step: int) -> None:
        nonlocal last_good
        state = {
            "step": step, "bad_in_row": bad_in_row, "skipped_images": skipped_images,
            "opt_u": opt_u.state_dict(), "sched_u": sched_u.state_dict(),
            "opt_c": opt_c.state_dict() if opt_c else None, "sched_c": sched_c.state_dict() if sched_c else None,
            "buffer": players.buffer.state_dict(), "rng": _gather_rng(generator),
            "draw_rng": draw_generator.get_state(), "health": health.state_dict(),
        }
        if dist_info.main:
            # during a non-finite streak: save (to resume from) but never prune the last good checkpoints
            saved = checkpoint.save_checkpoint(run_dir, step, peft_model, perturber, state, t.keep_checkpoints,
                                               prune=bad_in_row == 0)
            if bad_in_row == 0:
                last_good = saved
        distributed.barrier()

    # 4. The game.
    loader = make_loader(dataset, backend.image_transform(), global_batch=t.batch_size, seed=t.seed,
                         rank=dist_info.rank, world=dist_info.world, start_step=start, steps=t.steps,
                         num_workers=cfg.data.num_workers,
                         totals=lambda counts: distributed.all_sums(counts, where.device))
    step = start
    last_pair = None  # the latest (clean, adversarial) images, for the sample grids
    last_adv: tuple[int, StepMetrics] | None = None  # the adversary's latest turn, for logs between turns
    progress = TrainProgress(total=t.steps, start=start, enabled=dist_info.main, every=t.log_every, health=health)
    monitor = open_monitor(t.loggers, run_dir, OmegaConf.to_container(cfg, resolve=True), start, dist_info.main)
    watch, stop = DivergenceWatch(initial_norm=weight_norm(lora_params)), StopRequest()
    mid_step = False  # True while a step's data, RNG draws and updates are partly consumed
    try:
        with progress, stop:
            for raw in loader:
                mid_step = True
                tick = time.perf_counter()
                skipped_images += distributed.all_sum(raw["skipped"], where.device)  # every rank's, on every rank
                batch = to_device(raw, where.device)
                plan = schedule.plan(step)
                metrics = game_step(players, batch, plan)  # every rank, even with an empty batch (collectives)
                advance_schedules(sched_u, sched_c)
                health.observe(metrics)
                bad_in_row = bad_in_row + 1 if metrics.skipped else 0
                step += 1
                if cfg.game.rescore_every and step % cfg.game.rescore_every == 0:
                    rescore_buffer(players)  # stale hardness would freeze the buffer (health.py)
                mid_step = False
                verdict = watch.observe(step, metrics.ce_clean, weight_norm(lora_params))
                if verdict is not None and dist_info.main:
                    _warn_diverged(run_dir, verdict)
                rate = len(batch) * dist_info.world / max(time.perf_counter() - tick, 1e-9)
                progress.update(step, metrics, rate)
                if metrics.ce_adv == metrics.ce_adv:  # the adversary played this step
                    last_adv = (step, metrics)
                if dist_info.main and (step % t.log_every == 0 or step == t.steps or metrics.skipped):
                    window = health.close_window(step)  # this logging window's game health, warned once
                    monitor.log(step, _log_metrics(run_dir, step, metrics, rate, skipped_images, last_adv, window))
                if metrics.adv_images is not None:
                    last_pair = (batch.images[: len(metrics.adv_images)], metrics.adv_images)
                if dist_info.main and t.sample_every and step % t.sample_every == 0 and last_pair is not None:
                    save_pairs(*last_pair, run_dir / "samples" / f"step-{step}.png")
                if bad_in_row >= t.max_bad_steps:
                    monitor.finish(f"stopped at step {step}: non-finite losses")
                    what = "had no readable image" if metrics.empty else "had non-finite losses"
                    raise TrainingAborted(
                        f"Training stopped: {bad_in_row} steps in a row {what}.",
                        (f"The last good checkpoint is {last_good}; " if last_good is not None
                         else "No checkpoint was written before; ") + "lower the learning rates or eps.",
                    )
                if stop.agreed(where.device) and step < t.steps:  # Ctrl-C / SIGTERM: stop after a completed step
                    raise KeyboardInterrupt
                if t.checkpoint_every and step % t.checkpoint_every == 0 and step < t.steps and not bad_in_row:
                    snapshot(step)
    except KeyboardInterrupt:
        if mid_step:  # a second Ctrl-C: this step is half played, a checkpoint of it would not resume exactly
            log.warning("stopped during step %d without a checkpoint; the last one is %s", step + 1, last_good)
        else:
            snapshot(step)
            log.warning("interrupted after step %d; continue exactly with: unigame train --resume %s", step, run_dir)
        monitor.finish(f"interrupted at step {step}")
        raise

    # 5. The outputs: a PEFT adapter, the perturber, a last checkpoint (not in a non-finite streak).
    if bad_in_row:
        log.warning("the run ended in %d non-finite steps: no final checkpoint (last good: %s)", bad_in_row, last_good)
    else:
        snapshot(step)
    if dist_info.main:
        peft_model.save_pretrained(str(run_dir / "adapter"))
        checkpoint.save_perturber(perturber, run_dir / "perturber.safetensors")
        log.info("adapter written to %s (load with peft.PeftModel.from_pretrained)", run_dir / "adapter")
        if skipped_images:
            log.warning("%d unreadable training images were skipped", skipped_images)
        if watch.verdict is not None:
            log.warning("this run DIVERGED at step %d (%s): the adapter in %s is likely useless (%s)",
                        watch.verdict["step"], watch.verdict["reason"], run_dir / "adapter",
                        run_dir / "divergence.json")
    if before is not None:
        _report(before, _evaluate(cfg, backend, "after"), run_dir)
    monitor.finish()
    return run_dir


def _warn_diverged(run_dir: Path, verdict: dict[str, Any]) -> None:
    """Say it loudly and leave a record in the run directory (``divergence.json``)."""
    log.warning("training is diverging at step %d: %s. Lower optim.lr_lora (and optim.lr_perturber).",
                verdict["step"], verdict["reason"])
    (run_dir / "divergence.json").write_text(json.dumps(verdict, indent=2))


def _gather_rng(generator: torch.Generator) -> list[dict[str, Any]]:
    """Every rank's RNG state (rank r restores entry r)."""
    mine = checkpoint.rng_state(generator)
    if not distributed.is_active():
        return [mine]
    gathered: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, mine)
    return gathered


def _log_metrics(run_dir: Path, step: int, m: StepMetrics, rate: float, skipped_images: int,
                 last_adv: tuple[int, StepMetrics] | None, window: dict[str, Any]) -> dict[str, Any]:
    """One JSON line (returned for the metric loggers); the adversary's figures come from its latest turn
    (``adversary_step``), the buffer traffic and health flags from the logging ``window``."""
    adv_step, a = last_adv if last_adv is not None else (None, m)
    row = {
        "step": step, "loss_u": m.loss_u, "ce_clean": m.ce_clean, "ce_buffer": m.ce_buffer,
        "adversary_step": adv_step, "ce_adv": a.ce_adv, "delta_norm": a.delta_norm, "gate_pass": a.gate_pass,
        "mined": a.mined, "hardness": a.hardness, "eps": a.eps, "beta": m.beta, "buffer": m.buffer_size, "tau": m.tau,
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
