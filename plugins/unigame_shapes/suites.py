"""Suites on the procedural shapes world: ``shapes`` (test / shift / attack) and ``consistency``.

``test`` and ``shift`` are ordinary lm-eval tasks whose ``custom_dataset`` renders the world's samples.
The ``attack`` images and the ``consistency`` images are made by the model under evaluation, which
an lm-eval task (a function of its data files alone) cannot express: the suite makes them first --
batched, with the backend's own roles -- writes them as a parquet file of PNG bytes, and hands that
file to the task through the TaskManager's metadata (``generated_path``). Answering and scoring then
go through lm-eval like every other task.

Attack: by default the FIXED split the shapes plugin ships (test images perturbed once by PGD in pixel
space against the base model; the same images for every model evaluated, so before/after numbers are
comparable). ``attack=adaptive`` instead runs the shared-token attack of the UniGame threat model.
``z = encode(x)``; ``delta`` (bounded per token by ``eps * ||z_i||``, like the perturber) takes
``attack_steps`` normalised-gradient ascent steps on the understander's answer loss through the model's
own decoder; the image is ``decode(z + delta)``. The ``attack_eps``, ``attack_steps`` and
``attack_batch`` options apply to the adaptive attack only: with the fixed split they are not recorded
(``SuiteResult.unused_options``), and ``details.attack`` says which attack ran with what.

Each prediction row carries its ``split`` (test / shift / attack); each ``<split>_accuracy`` is declared
a per-question mean of that split's rows (its own n and interval; paired before/after comparisons).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unigame_core.errors import CapabilityError, ConfigError, DataError
from unigame_core.interfaces import Backend, ScoredRows, SuiteResult

from unigame_evals import lm_docs
from unigame_evals.suites import LMEvalSuite

from . import assets
from .attack import attack_samples
from .options import ShapesOptions
from .world import ShapesWorld, caption_questions

log = logging.getLogger(__name__)

TASKS_DIR = Path(__file__).parent / "tasks"
SHAPES_TASKS = {"test": "unigame_shapes_test", "shift": "unigame_shapes_shift", "attack": "unigame_shapes_attack",
                "nuisance": "unigame_shapes_nuisance", "val": "unigame_shapes_val"}
# nuisance and val are opt-in: splits=[test,nuisance,attack]; val is for tuning settings (unigame study tradeoff)
ADAPTIVE_ONLY = ["attack_eps", "attack_steps", "attack_batch"]  # options the fixed split does not use


def _world(seed: int, image_size: int = ShapesOptions.image_size) -> ShapesWorld:
    return ShapesWorld(seed=seed, image_size=image_size)


def _device(backend: Backend) -> torch.device:
    return next(backend.model.parameters()).device


def _pixels(backend: Backend, images: list[np.ndarray]) -> torch.Tensor:
    """``(H, W, 3)`` uint8 arrays -> ``(B, 3, S, S)`` floats in ``[0, 1]`` on the backend's device."""
    transform = backend.image_transform()
    batch = torch.stack([transform(torch.from_numpy(im).permute(2, 0, 1).contiguous()) for im in images])
    return batch.to(_device(backend)).float().div_(255.0)


def _to_uint8(pixels: torch.Tensor) -> list[np.ndarray]:
    """``(B, 3, S, S)`` in ``[0, 1]`` -> ``(S, S, 3)`` uint8 arrays."""
    arr = (pixels.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return list(arr)


def shared_token_attack(backend: Backend, pixels: torch.Tensor, questions: list[str], answers: list[str],
                        *, eps: float, steps: int) -> torch.Tensor:
    """Adversarial images ``decode(z + delta)`` with ``||delta_i|| <= eps * ||z_i||`` (see the module doc)."""
    enc, dec, und = backend.encoder, backend.decoder, backend.understander
    with torch.no_grad():
        tokens = enc.encode(pixels)
    dtype, z = tokens.dtype, tokens.float()
    bound = eps * z.norm(dim=-1, keepdim=True)
    delta = torch.zeros_like(z)
    for _ in range(steps):
        delta.requires_grad_(True)
        with torch.enable_grad():
            image = dec.decode((z + delta).to(dtype))
            loss = und.answer_loss(und.embed_images(image), questions, answers).float().sum()
            (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            step = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            delta = delta.detach() + 0.5 * bound * step
            delta = delta * (bound / delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
    with torch.no_grad():
        return dec.decode((z + delta).to(dtype)).clamp(0, 1)


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


class ShapesSuite(LMEvalSuite):
    """Accuracy on the shapes world's test split, its distribution-shift split, and attacked test images."""

    name = "shapes"
    tasks_dir = TASKS_DIR

    def check_data(self) -> None:
        o = self.options
        if o.attack not in ("fixed", "adaptive"):
            raise ConfigError(f"Suite 'shapes': attack must be 'fixed' or 'adaptive', got '{o.attack}'.")
        if o.samples < 1 or o.attack_steps < 0 or o.attack_eps < 0 or o.attack_batch < 1:
            raise ConfigError("Suite 'shapes' needs samples >= 1, attack_batch >= 1, attack_steps >= 0 "
                              "and attack_eps >= 0.")
        unknown = [s for s in o.splits if s not in SHAPES_TASKS]
        if unknown or not o.splits:
            raise ConfigError(f"Suite 'shapes': splits must be a non-empty list of {', '.join(SHAPES_TASKS)}, "
                              f"got {list(o.splits)}.")
        _world(self.options.seed)

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        o = self.options
        shares = lm_docs.split_limit(limit, len(o.splits))  # --limit N: N questions in all (50 = 17 + 17 + 16)
        counts = {split: o.samples if s is None else min(o.samples, s) for split, s in zip(o.splits, shares)}
        tasks = {split: SHAPES_TASKS[split] for split in o.splits if counts[split] > 0}
        n = max(counts.values())  # rendered per split at most
        with tempfile.TemporaryDirectory(prefix="unigame-shapes-") as tmp:
            attack = None
            if "attack" in tasks:
                attack = self.write_attack(backend, counts["attack"], batch_size, Path(tmp) / "attack.parquet")
            meta = {"shapes_seed": o.seed, "shapes_samples": n, "shapes_image_size": o.image_size,
                    "generated_path": attack, "limit": n}
            per_task = n if limit is None else {task: counts[split] for split, task in tasks.items()}
            outputs, stats = self.run(backend, list(tasks.values()), meta, limit=per_task, batch_size=batch_size)
        metrics = {f"{split}_accuracy": outputs[task].metrics["accuracy"] for split, task in tasks.items()}
        result = self.result(metrics, [outputs[t] for t in tasks.values()], stats,
                             data=f"shapes world (seed {o.seed}, procedural)",
                             samples_per_split={split: counts[split] for split in tasks},
                             attack=self.applied_attack(batch_size) if "attack" in tasks else None)
        start = 0
        for split, task in tasks.items():  # result() keeps the tasks' order, one row per sample
            count = len(outputs[task].samples)
            for row in result.predictions[start:start + count]:
                row["split"] = split
            start += count
        result.per_question = {f"{split}_accuracy": ScoredRows({"split": split}) for split in tasks}
        result.unused_options = [] if o.attack == "adaptive" and "attack" in tasks else list(ADAPTIVE_ONLY)
        return result

    def applied_attack(self, batch_size: int) -> dict[str, Any]:
        """The attack that made the attack split, with the settings it ran with (and only those)."""
        o = self.options
        if o.attack == "fixed":
            eps = float(np.load(assets.ATTACK_FILE)["eps"]) if assets.ATTACK_FILE.exists() else None
            return {"kind": "fixed", "file": assets.ATTACK_FILE.name, "space": "pixels", "norm": "L_inf",
                    "eps": eps, "against": "the shipped base model (made once by unigame shapes pretrain)"}
        return {"kind": "adaptive", "space": "shared tokens", "eps": o.attack_eps, "steps": o.attack_steps,
                "batch": max(1, min(batch_size, o.attack_batch))}

    def write_attack(self, backend: Backend, n: int, batch_size: int, path: Path) -> str:
        """The attack split as ``{id, question, image (PNG), ...}`` rows: the shipped one, or made now."""
        o = self.options
        if o.attack == "fixed":
            return self.write_fixed_attack(n, path)
        world = _world(o.seed, o.image_size)
        samples = [world.sample("test", i) for i in range(n)]
        rows: list[dict[str, Any]] = []
        step = max(1, min(batch_size, o.attack_batch))
        for k in range(0, n, step):
            chunk = samples[k:k + step]
            pixels = _pixels(backend, [s.image for s in chunk])
            adv = shared_token_attack(backend, pixels, [s.question for s in chunk], [s.answer for s in chunk],
                                      eps=o.attack_eps, steps=o.attack_steps)
            for s, image in zip(chunk, _to_uint8(adv)):
                rows.append({"id": f"{s.id}-attack", "question": s.question, "image": lm_docs.png_bytes(image),
                             "references": [s.answer], "target": s.answer, "kind": s.kind})
        log.info("shapes: attacked %d test images (eps %.3g, %d steps)", n, o.attack_eps, o.attack_steps)
        return _write_parquet(rows, path)

    @staticmethod
    def write_fixed_attack(n: int, path: Path) -> str:
        if not assets.ATTACK_FILE.exists():
            raise DataError(f"The shapes attack split '{assets.ATTACK_FILE}' is missing.",
                            "Run 'unigame shapes pretrain' or use attack=adaptive.")
        rows = [{"id": s.id, "question": s.question, "image": lm_docs.png_bytes(s.image), "references": [s.answer],
                 "target": s.answer, "kind": "attack"} for s in attack_samples()[:n]]
        return _write_parquet(rows, path)


class ConsistencySuite(LMEvalSuite):
    """Generate an image per shapes caption, then check the model's answers agree with the caption."""

    name = "consistency"
    tasks_dir = TASKS_DIR

    def check_data(self) -> None:
        if self.options.captions < 1 or self.options.generation_batch < 1:
            raise ConfigError("Suite 'consistency' needs captions >= 1 and generation_batch >= 1.")
        try:
            _world(self.options.seed).caption_sample(self.options.split, 0)
        except ValueError as exc:  # an unknown split
            raise ConfigError(f"Suite 'consistency': {exc}.") from exc

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        if "text_to_image" not in backend.capabilities:
            raise CapabilityError(
                "Suite 'consistency' needs a model that generates images (capability 'text_to_image'); "
                "this backend cannot.", "Choose a unified model such as the default one or janus-pro-7b.")
        with tempfile.TemporaryDirectory(prefix="unigame-consistency-") as tmp:
            path, n_images = self.write_generated(backend, limit, batch_size, Path(tmp) / "generated.parquet")
            meta = {"generated_path": path, "limit": limit}
            outputs, stats = self.run(backend, ["unigame_consistency"], meta, limit=limit, batch_size=batch_size)
        out = outputs["unigame_consistency"]
        result = self.result(dict(out.metrics), [out], stats, score_metric="agreement",
                             data=f"shapes world captions (seed {self.options.seed}, split {self.options.split})")
        scored = len({str(row["image_id"]) for row in result.predictions})  # with --limit, maybe fewer than made
        result.details["images"] = scored
        result.per_question = {"agreement": ScoredRows()}  # image_consistency is per image: no interval here
        result.counts = {"image_consistency": scored}  # its n is the images, not the questions
        if scored != n_images:
            log.info("consistency: %d of the %d images generated were asked a question", scored, n_images)
        return result

    def write_generated(self, backend: Backend, limit: int | None, batch_size: int, path: Path) -> tuple[str, int]:
        """Generate images for enough captions to ask ``limit`` questions (all ``captions`` without a limit)."""
        o = self.options
        world = _world(o.seed)
        chosen: list[tuple[str, list[tuple[str, str]]]] = []
        asked = 0
        for index in range(o.captions):
            if limit is not None and asked >= limit:
                break
            caption, scene = world.caption_sample(o.split, index)
            chosen.append((caption, caption_questions(scene)))
            asked += len(chosen[-1][1])
        rows: list[dict[str, Any]] = []
        step = max(1, min(batch_size, o.generation_batch))
        for k in range(0, len(chosen), step):
            chunk = chosen[k:k + step]
            images = backend.generate_images([c for c, _ in chunk], guidance_scale=o.guidance_scale, seed=o.seed + k)
            for offset, ((caption, questions), image) in enumerate(zip(chunk, _to_uint8(images))):
                png, image_id = lm_docs.png_bytes(image), str(k + offset)
                rows += [{"id": f"{image_id}/{j}", "image_id": image_id, "caption": caption, "question": q,
                          "image": png, "references": [a], "target": a} for j, (q, a) in enumerate(questions)]
        log.info("consistency: generated %d images from captions (%d questions)", len(chosen), len(rows))
        return _write_parquet(rows, path), len(chosen)
