"""``unigame study ablation``: rows of the method at equal steps and seeds, with paired bootstrap intervals.

Each (row, seed) run is an ordinary ``unigame train`` of the embedded default with the row's preset
(``configs/ablations/PRESET.yaml``) and the row's overrides (``ROWS`` below); the trained adapter is then
scored on the same questions for every row and seed (``score_run``):

* ``test``: clean test accuracy (the method must not lose it: a non-inferiority reading);
* ``nuisance``: test scenes with decoder-reachable variations (``world.NUISANCE_RANGES``);
* ``attack (fixed)``: the shipped attack split, a pixel PGD made ONCE against the base (not adaptive);
* ``attack (adaptive, shared tokens)``: the ``attack-decoder`` suite on the test questions: APGD-CE against
  each trained model in its own shared-token space (``||delta_i|| <= attack_eps * ||z_i||``), decoded by
  its decoder, answered; robust = right on the clean image, the round trip and the attacked decode;
* ``attack (adaptive, pixels)``: the ``attack-pgd`` suite on the test questions: APGD-CE on the pixels
  against each trained model (L_inf ``pixel_eps``); robust = right on the clean and the attacked image;
* ``consistency``: caption-derived questions on images the model generates (one unit per image).

Every run's per-question scores go to ``RUN/scores.json``; a later call with the same settings reuses
them, so a study can be extended (more seeds) or resumed. ``study_report`` turns them into intervals.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from unigame_core.config import build_config
from unigame_core.errors import ConfigError
from unigame_core.lora import load_adapter
from unigame_core.run import build

from .study_rows import (  # noqa: F401 - the study's public names
    BASE, CONTROL, HEALTH, HEALTH_V1, MAP, MAP_CONTROL, METRICS, ROWS, ROWS_V1, TRAIN_EPS)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSettings:
    """How each trained model is scored (the same for every row and seed)."""

    questions: int = 1000  # per split
    captions: int = 256  # generated images for consistency (0 = skip)
    attack_eps: float = TRAIN_EPS  # attack-decoder: bound per shared token, relative to its norm
    pixel_eps: str = "4/255"  # attack-pgd: L_inf bound on [0, 1] pixels (0 = skip the pixel attack)
    attack_steps: int = 10  # APGD iterations of both attacks
    batch_size: int = 64
    # test: clean test, nuisance, the fixed attack, and the adaptive attacks on test questions (the study);
    # val: clean val and the adaptive attacks on val questions (the trade-off map: settings are tuned on val only)
    split: str = "test"

    def key(self) -> dict[str, Any]:
        """What a scores.json must have been made with to be reused (``split`` only when not the default, so the
        first study's runs, scored before it existed, still match)."""
        found = asdict(self)
        if found["split"] == "test":
            del found["split"]
        return found


def row_overrides(row: str, version: int = 2) -> tuple[str, list[str]]:
    """``(preset, overrides)`` of a row (the study's ``ROWS``, the trade-off map's ``MAP``; ``version=1``: the
    first study's ``ROWS_V1``); a name outside them is a preset with the study's game settings."""
    if version == 1:
        preset, extra = ROWS_V1.get(row, (row, []))
        return preset, HEALTH_V1 + extra
    preset, extra = {**ROWS, **MAP}.get(row, (row, []))
    return preset, HEALTH + extra


def score_run(cfg: Any, adapter: Path | None, s: EvalSettings) -> dict[str, dict[str, list[float]]]:
    """``{metric: {unit id: [score sum, count]}}`` of one model (a trained adapter, or the base)."""
    from unigame_core.eval.runner import evaluate_backend

    backend = build.build_backend(cfg, build.placement(cfg.train.device, cfg.train.precision))
    if adapter is not None:
        load_adapter(backend, adapter)
    n = f"shapes.samples={s.questions}"
    units: dict[str, dict[str, list[float]]] = {}
    splits = "[test,nuisance,attack]" if s.split == "test" else f"[{s.split}]"
    fixed = evaluate_backend(backend, ["shapes"], data_root=None, limit=None, batch_size=s.batch_size,
                             suite_options=[n, f"shapes.splits={splits}", "shapes.attack=fixed"])
    for row in fixed["shapes"].predictions:
        units.setdefault("attack_fixed" if row["split"] == "attack" else row["split"], {})[row["id"]] = [
            row["score"], 1.0]
    source = f"source_options={{samples: {s.questions}, splits: [{s.split}]}}"
    attacks = {"attack_adaptive": ("attack-decoder", str(s.attack_eps))}
    if float(Fraction(s.pixel_eps)) > 0:
        attacks["attack_pixels"] = ("attack-pgd", s.pixel_eps)
    for metric, (suite, eps) in attacks.items():  # robust: right on every point of the threat set the suite tried
        name = f"{suite}:shapes"
        options = [f"{name}.{source}", f"{name}.eps=[{eps!r}]", f"{name}.steps={s.attack_steps}",
                   f"{name}.attack_batch=16"]
        result = evaluate_backend(backend, [name], data_root=None, limit=None, batch_size=s.batch_size,
                                  suite_options=options)[name]
        units[metric] = {row["id"]: [row["score"], 1.0] for row in result.predictions
                         if row["condition"] == f"robust[{eps}]"}
    if s.captions:  # every question of ``captions`` generated images; an image is one unit
        result = evaluate_backend(backend, ["consistency"], data_root=None, limit=None, batch_size=32,
                                  suite_options=[f"consistency.captions={s.captions}"])
        per_image: dict[str, list[float]] = {}
        for row in result["consistency"].predictions:
            unit = per_image.setdefault(row["id"].split("/")[0], [0.0, 0.0])
            unit[0], unit[1] = unit[0] + row["score"], unit[1] + 1.0
        units["consistency"] = per_image
    return units


def _cached(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("key") == key:
            return data
    return None


def run_one(output: Path, row: str, seed: int, steps: int, s: EvalSettings, *,
            train: bool = True, version: int = 2) -> dict[str, Any] | None:
    """Train (unless ``row`` is the base) and score one run; reuse ``scores.json`` made with the same key.
    With ``train=False`` only a run already scored is returned (None otherwise)."""
    from unigame_core.run.runner import run_training

    run_dir = output / "base" if row == BASE else output / row / f"seed-{seed}"
    preset, overrides = (None, []) if row == BASE else row_overrides(row, version)
    key = {"row": row, "preset": preset, "overrides": overrides, "seed": seed,
           "steps": 0 if row == BASE else steps, "eval": s.key()}
    found = _cached(run_dir / "scores.json", key)
    if found is not None:
        log.info("study: %s seed %d already scored (%s)", row, seed, run_dir / "scores.json")
        return found
    if not train:
        return None
    start = time.monotonic()
    common = ["train.eval_suites=[]", "train.sample_every=0", "train.checkpoint_every=0", "train.loggers=[]"]
    if row == BASE:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg, adapter = build_config(None, None, common), None
    else:
        cfg = build_config(None, f"ablations/{preset}", [*overrides, f"train.seed={seed}", f"train.steps={steps}",
                                                         f"train.output_dir={run_dir}", *common])
        log.info("study: training %s seed %d (%d steps)", row, seed, steps)
        run_training(cfg, overwrite=True)  # the study owns its row folders: a re-run replaces them
        adapter = run_dir
    trained = time.monotonic()
    units = score_run(cfg, adapter, s)
    data = {"key": key, "units": units, "train_seconds": trained - start, "eval_seconds": time.monotonic() - trained,
            "means": {m: sum(v[0] for v in u.values()) / sum(v[1] for v in u.values()) for m, u in units.items()}}
    (run_dir / "scores.json").write_text(json.dumps(data))
    return data


def run_ablation(output: Path, rows: list[str], *, seeds: int, steps: int, settings: EvalSettings,
                 n_boot: int = 2000, margin: float = 0.01, report_only: bool = False, version: int = 2,
                 control: str = CONTROL, kind: str = "ablation") -> dict[str, Any]:
    """Every (row, seed) run, then the table with intervals, ``summary.json`` / ``.csv`` and the plot.
    ``report_only``: train and score nothing; the table covers the runs already scored with these settings
    (a study in progress: contrasts pair the seeds both rows have)."""
    from .study_report import write_report

    for row in rows:  # an unknown preset or a bad override fails here, before anything is trained
        preset, overrides = row_overrides(row, version)
        try:
            build_config(None, f"ablations/{preset}", overrides)
        except ConfigError as exc:
            known = ROWS_V1 if version == 1 else {**ROWS, **MAP}
            if row in known:
                raise
            raise ConfigError(f"Row '{row}' is neither a study row nor an ablation preset ({exc.message})",
                              f"The study's rows: {', '.join(known)}.") from None
    output.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for seed, row in [(0, BASE)] + [(seed, row) for seed in range(seeds) for row in rows]:
        # seed-major: a study stopped early still has every row at the same seeds
        found = run_one(output, row, seed, steps, settings, train=not report_only, version=version)
        if found is not None:
            runs.setdefault(row, {})[seed] = found
    if not any(row != BASE for row in runs):
        raise ConfigError(f"No run in '{output}' is scored with these settings ({steps} steps, {asdict(settings)}).",
                          "Run the study without --report-only first, with the same settings.")
    meta = {"rows": {r: dict(zip(("preset", "overrides"), row_overrides(r, version))) for r in rows}, "seeds": seeds,
            "scored_seeds": {row: sorted(found) for row, found in runs.items()},
            "steps": steps, "eval": asdict(settings), "bootstrap": n_boot, "margin": margin, "control": control,
            "kind": kind, "rows_version": version}
    return write_report(output, runs, meta)
