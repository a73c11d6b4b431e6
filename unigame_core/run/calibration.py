"""``unigame calibrate``: choose eps on held-out data, so that the adversary's decodes keep their labels.

eps bounds the perturbation of every shared token relative to its own norm. Too large, and a decode of
z + delta is another image: the "hard" samples are label noise, the gate rejects most of them and the
perturber sits at the bound. So eps is measured, not guessed: for each candidate eps, every token of a
held-out image is pushed exactly to the bound (where a saturated perturber sits), decoded, and the model
answers the question again. The direction (``probe``) is either ``random`` or, by default, ``pixel``: a
few steps of gradient ascent on how much the decode changes, ||G(z + delta) - G(z)||^2, on the bound's
sphere: the perturbation within eps that alters the picture most, whatever the model thinks of it. A
decode *keeps its label* when the model, right on the delta = 0 decode of the same image, is still right
on it; the keep rate is over those samples only, so what decoding alone destroys (the round trip) is not
charged to eps. The chosen eps is the largest of the grid whose keep rate, and that of every smaller eps,
is at least the target (80 % by default).

Neither probe looks at the model's answers, so they measure semantic drift, not adversarial strength: the
model has no reason to fail on such a decode unless its content changed. A random direction is the
optimistic probe (on shapes-tiny it keeps 88 % of labels at eps 0.3, where 90 % of token ids change);
the pixel probe is the pessimistic one. The figures are for the frozen
base model (no adapter).

Next to each keep rate, the strength the game would have at that eps: the refined adversary's CE gain, the
understander's mean cross-entropy on the decode after ``game.refine_steps`` per-sample ascent steps from
delta = 0 (the training turn's refinement, ``game/refine.py``) minus its cross-entropy on the delta = 0 decode.
A useful eps keeps the labels AND gives the adversary room to hurt: a gain near zero means the game cannot play.
"""

from __future__ import annotations

import logging
import math
import string
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from ..data.loader import make_loader, to_device
from ..errors import ConfigError, DataError
from ..game.couplings import DecoderCoupling
from ..game.refine import bound_radius, refine
from ..interfaces import Backend, VQABatch
from . import build

log = logging.getLogger(__name__)


@dataclass
class EpsPoint:
    eps: float
    keep_rate: float  # of the samples right on the delta = 0 decode, the share still right at this eps
    accuracy: float  # accuracy on the decodes at this eps
    tokens_changed: float  # share of codebook ids the perturbation changes (NaN: continuous tokens)
    ce_gain: float = math.nan  # the refined adversary's CE minus the delta = 0 decode's CE (NaN: not measured)


@dataclass
class Calibration:
    n: int  # samples measured
    clean_accuracy: float  # on the original images
    round_trip_accuracy: float  # on the delta = 0 decodes
    target: float
    probe: str  # how delta's direction was chosen: pixel | random
    points: list[EpsPoint]
    eps: float | None  # the largest eps keeping >= target (with every smaller one); None: not even the smallest

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "points": [asdict(p) for p in self.points]}


def same_answer(prediction: str, answer: str) -> bool:
    """Case, surrounding spaces and punctuation aside, the same words."""
    def norm(text: str) -> str:
        return " ".join(text.lower().strip().strip(string.punctuation).split())
    return norm(prediction) == norm(answer)


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def at_bound(z: Tensor, eps: float, directions: Tensor) -> Tensor:
    """``z`` with every token moved exactly eps * ||z_i|| along its direction."""
    z32 = z.float()
    return z32 + eps * z32.norm(dim=-1, keepdim=True) * _unit(directions)


def pixel_directions(backend: Backend, z: Tensor, eps: float, start: Tensor, steps: int = 3) -> Tensor:
    """Directions (from ``start``) that change the decode most at the bound: ``steps`` ascent steps of
    ||G(z + delta) - G(z)||^2, each moving every token's direction halfway towards its gradient."""
    if eps <= 0:
        return start
    reference = backend.decoder.decode(z).detach()
    directions = _unit(start.float())
    for _ in range(steps):
        with torch.enable_grad():
            d = directions.clone().requires_grad_(True)
            change = (backend.decoder.decode(at_bound(z, eps, d).to(z.dtype)).float() - reference).pow(2).sum()
            (grad,) = torch.autograd.grad(change, d)
        directions = _unit(directions + _unit(grad))
    return directions


def choose_eps(points: Sequence[EpsPoint], target: float) -> float | None:
    """The largest eps of an ascending grid whose keep rate and every smaller eps's are >= ``target``."""
    chosen = None
    for point in sorted(points, key=lambda p: p.eps):
        if not point.keep_rate >= target:  # NaN (nothing right at delta = 0) never qualifies
            break
        chosen = point.eps
    return chosen


def refined_ce(backend: Backend, z: Tensor, batch: VQABatch, eps: float, steps: int, step: float) -> Tensor:
    """Per-sample CE on the decode of ``z + delta``, delta found by ``steps`` refinement steps from 0 within eps."""
    und, coupling = backend.understander, DecoderCoupling()

    def ce(delta: Tensor) -> Tensor:
        return und.answer_loss(coupling.view(backend, z, delta).embeds, batch.questions, batch.answers).float()

    delta = refine(torch.zeros_like(z, dtype=torch.float32), ce, bound_radius(z, eps), steps, step) if eps > 0 \
        else torch.zeros_like(z, dtype=torch.float32)
    return ce(delta)


@torch.no_grad()
def measure(backend: Backend, batches: Iterable[VQABatch], grid: Sequence[float], target: float,
            seed: int = 0, probe: str = "pixel", refine_steps: int = 3, refine_step: float = 0.5) -> Calibration:
    """Keep rate, accuracy, token ids changed and the refined adversary's CE gain for every eps of ``grid``."""
    grid = sorted(float(e) for e in grid)
    generator = torch.Generator().manual_seed(seed)
    und, n, clean_right = backend.understander, 0, 0
    base_right: list[Tensor] = []
    right = {eps: [] for eps in grid}
    changed = {eps: [] for eps in grid}
    gains: dict[float, list[Tensor]] = {eps: [] for eps in grid}
    for batch in batches:
        if not len(batch):
            continue
        n += len(batch)
        clean_right += sum(_right(und.generate(batch.images, batch.questions), batch.answers).tolist())
        z = backend.encoder.encode(batch.images)
        ids = backend.encoder.token_ids(z)
        base_right.append(_right(und.generate(backend.decoder.decode(z), batch.questions), batch.answers))
        round_trip_ce = refined_ce(backend, z, batch, 0.0, 0, refine_step)
        start = directions = torch.randn(z.shape, generator=generator).to(z.device)  # the same for every eps
        for eps in grid:
            if probe == "pixel":
                directions = pixel_directions(backend, z, eps, start)
            moved = at_bound(z, eps, directions)
            answers = und.generate(backend.decoder.decode(moved.to(z.dtype)), batch.questions)
            right[eps].append(_right(answers, batch.answers))
            moved_ids = backend.encoder.token_ids(moved) if ids is not None else None
            changed[eps].append(torch.tensor([math.nan]) if moved_ids is None
                                else (moved_ids != ids).float().mean().reshape(1).cpu())
            if refine_steps > 0:
                gains[eps].append((refined_ce(backend, z, batch, eps, refine_steps, refine_step) - round_trip_ce).cpu())
    if n == 0:
        raise DataError("calibrate found no readable sample in its data.", "Check --data.")
    base = torch.cat(base_right)
    points = []
    for eps in grid:
        now = torch.cat(right[eps])
        keep = float((now & base).sum() / base.sum()) if base.any() else math.nan
        gain = float(torch.cat(gains[eps]).mean()) if gains[eps] else math.nan
        points.append(EpsPoint(eps, keep, float(now.float().mean()), float(torch.cat(changed[eps]).mean()), gain))
    return Calibration(n, clean_right / n, float(base.float().mean()), target, probe, points,
                       choose_eps(points, target))


def _right(predictions: Sequence[str], answers: Sequence[str]) -> Tensor:
    return torch.tensor([same_answer(p, a) for p, a in zip(predictions, answers)], dtype=torch.bool)


def held_out_spec(cfg: DictConfig, data: str | None) -> str:
    """``--data`` as given, or the training data's ``val`` split (``shapes:train`` -> ``shapes:val``)."""
    if data:
        return data
    kind, _, location = str(cfg.data.spec).partition(":")
    split, at, size = location.partition("@")
    if split != "train":
        raise ConfigError("calibrate needs held-out data: pass --data with a validation split.",
                          "Example: unigame calibrate --data shapes:val")
    return f"{kind}:val{at}{size}"


def run_calibration(cfg: DictConfig, data: str, limit: int, grid: Sequence[float], target: float,
                    batch_size: int, probe: str = "pixel") -> Calibration:
    """Load the model, read ``limit`` samples of ``data`` and measure ``grid``."""
    if cfg.game.coupling not in ("decoder", "decoder-pgd"):
        raise ConfigError(f"calibrate measures the decoder coupling's eps; game.coupling is '{cfg.game.coupling}'.")
    dataset = build.build_dataset(data, "skip", int(cfg.train.seed))
    where = build.placement(cfg.train.device, cfg.train.precision)
    backend = build.build_backend(cfg, where)
    steps = max(1, math.ceil(min(limit, len(dataset)) / batch_size))
    loader = make_loader(dataset, backend.image_transform(), global_batch=batch_size, seed=int(cfg.train.seed),
                         rank=0, world=1, start_step=0, steps=steps, num_workers=0)
    log.info("calibrating eps on %d samples of %s: %s", steps * batch_size, data, ", ".join(map(str, grid)))
    return measure(backend, (to_device(raw, where.device) for raw in loader), grid, target, int(cfg.train.seed),
                   probe, int(cfg.game.refine_steps), float(cfg.game.refine_step))
