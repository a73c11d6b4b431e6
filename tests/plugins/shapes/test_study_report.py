"""The study's report on synthetic per-question scores: intervals, contrasts and the pre-stated reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unigame_shapes.study_report import reading, reading_v2, summarise, write_report

METRICS = ("test", "nuisance", "attack_fixed", "attack_adaptive")


def _run(rates: dict[str, float], seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    units = {m: {f"{m}-{i}": [float(rng.random() < rates.get(m, 0.5)), 1.0] for i in range(400)} for m in METRICS}
    return {"units": units, "train_seconds": 1.0, "eval_seconds": 2.0}


def _runs(full: dict[str, float]) -> dict[str, dict[int, dict[str, Any]]]:
    same = {"test": 0.9, "nuisance": 0.6, "attack_adaptive": 0.3}
    # the same seed streams for every row: rows differ only where their rates differ
    return {row: {s: _run(rates, s) for s in range(3)}
            for row, rates in (("sft", same), ("decoder-eps0", same), ("full", full))}


def test_a_clear_gain_with_clean_held_reads_for_the_method() -> None:
    runs = _runs({"test": 0.9, "nuisance": 0.8, "attack_adaptive": 0.5})
    summary = summarise(runs, n_boot=300)
    gain = summary["contrasts"]["full - decoder-eps0"]["nuisance"]
    assert 0.1 < gain.low < gain.point < gain.high and gain.seeds == 3 and gain.units == 400
    assert summary["contrasts"]["decoder-eps0 - sft"]["test"].point == 0.0  # identical rows
    assert reading(summary, margin=0.01).startswith("FOR the method")


def test_a_clean_loss_or_no_gain_reads_not_for_the_method() -> None:
    lossy = summarise(_runs({"test": 0.8, "nuisance": 0.8, "attack_adaptive": 0.5}), n_boot=300)
    verdict = reading(lossy, margin=0.01)
    assert verdict.startswith("NOT for the method") and "clean does not hold" in verdict
    null = summarise(_runs({"test": 0.9, "nuisance": 0.6, "attack_adaptive": 0.3}), n_boot=300)
    assert reading(null, margin=0.01).startswith("NOT for the method")


def _runs_v2(full: dict[str, float], pgd: dict[str, float]) -> dict[str, dict[int, dict[str, Any]]]:
    metrics = ("test", "nuisance", "attack_adaptive", "attack_pixels", "consistency")
    same = {"test": 0.9, "nuisance": 0.6, "attack_adaptive": 0.3, "attack_pixels": 0.3, "consistency": 0.7}

    def run(rates: dict[str, float], seed: int) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        rates = {**same, **rates}
        return {"units": {m: {f"{m}-{i}": [float(rng.random() < rates[m]), 1.0] for i in range(400)} for m in metrics},
                "train_seconds": 1.0, "eval_seconds": 2.0}

    return {row: {s: run(rates, s) for s in range(3)}
            for row, rates in (("sft", {}), ("decoder-eps0", {}), ("decoder-pgd", pgd), ("full", full))}


def test_the_second_studys_reading_needs_the_gain_every_cost_held_and_names_what_beats_pgd(tmp_path: Path) -> None:
    runs = _runs_v2({"attack_adaptive": 0.5, "attack_pixels": 0.5}, {"attack_adaptive": 0.5})
    payload = write_report(tmp_path, runs, {"bootstrap": 300, "margin": 0.01, "rows_version": 2})
    assert payload["reading"].startswith("FOR the method: (i) full - decoder-eps0")
    assert "(iii) over decoder-pgd: supported on attack (adaptive, pixels)" in payload["reading"]
    assert "full - decoder-pgd" in payload["contrasts"]
    lossy = summarise(_runs_v2({"attack_adaptive": 0.5, "consistency": 0.5}, {}), 300, "decoder-eps0", ("decoder-pgd",))
    verdict = reading_v2(lossy, margin=0.01)
    assert verdict.startswith("NOT for the method") and "(ii) on consistency" in verdict and "not above -1.0" in verdict
    assert "(iii) over decoder-pgd: nothing supported" in verdict  # (ii) failed: nothing beyond PGD is claimed
    # the first study's rows (no consistency, no pixel attack scored): not evaluable, said as such
    assert reading_v2(summarise(_runs({"test": 0.9}), 300), 0.01).startswith("not evaluable")


def test_the_report_writes_table_json_csv_and_plot(tmp_path: Path) -> None:
    payload = write_report(tmp_path, _runs({"nuisance": 0.8}), {"bootstrap": 100, "margin": 0.01})
    assert "| full - decoder-eps0 | 3 |" in (tmp_path / "table.md").read_text()
    assert payload["rows"]["full"]["nuisance"]["seeds"] == 3 and payload["reading"]
    assert (tmp_path / "summary.csv").read_text().startswith("kind,name,metric,point,low,high,seeds,units")
    figure = (tmp_path / "ablation.svg").read_text()
    assert figure.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and figure.count("<circle") >= 8
    assert "minus decoder-eps0, points" in figure and "full - decoder-eps0" not in figure


def test_the_report_adds_each_rows_game_health_from_its_runs_metrics(tmp_path: Path) -> None:
    import json

    for seed in range(3):  # full's runs logged two windows each: one flagged, one healthy
        run = tmp_path / "full" / f"seed-{seed}"
        run.mkdir(parents=True)
        lines = [{"step": 10, "ce_adv": 0.5, "ce_start": 0.4, "ce_round_trip": 0.3, "delta_saturation": 0.0,
                  "tokens_changed": 0.1, "gate_pass": 1.0, "candidates_total": 8, "admitted_total": 2, "drawn_total": 4,
                  "health_ok": False},
                 {"step": 20, "ce_adv": 0.9, "ce_start": 0.6, "ce_round_trip": 0.3, "delta_saturation": 0.5,
                  "tokens_changed": 0.3, "gate_pass": 0.5, "candidates_total": 16, "admitted_total": 8,
                  "drawn_total": 8 + seed, "health_ok": True}]
        (run / "metrics.jsonl").write_text("\n".join(json.dumps(d) for d in lines) + "\n")
    noise = tmp_path / "decoder-eps0" / "seed-0"  # a coupling with no delta logs no saturation
    noise.mkdir(parents=True)
    (noise / "metrics.jsonl").write_text(json.dumps({"step": 10, "ce_adv": 0.3, "ce_round_trip": 0.3}) + "\n")
    (tmp_path / "sft" / "seed-0").mkdir(parents=True)
    (tmp_path / "sft" / "seed-0" / "metrics.jsonl").write_text(json.dumps({"step": 10, "ce_clean": 0.1}) + "\n")
    payload = write_report(tmp_path, _runs({"nuisance": 0.8}), {"bootstrap": 50, "margin": 0.01})
    health = payload["health"]
    assert set(health) == {"full", "decoder-eps0"}  # sft has no adversary turn
    h = health["full"]
    assert h["seeds"] == 3 and h["windows_flagged"] == 0.5 and abs(h["ce_gain"] - 0.4) < 1e-9
    assert abs(h["start_gain"] - 0.2) < 1e-9  # the perturber's own share of it, before refinement
    assert h["saturation"] == 0.25 and abs(h["tokens_changed"] - 0.2) < 1e-9 and h["gate_pass"] == 0.75
    assert h["admitted"] == 0.5 and h["drawn"] == 9.0  # the last line's totals, averaged over seeds
    table = (tmp_path / "table.md").read_text()
    assert "| full | 3 | 0.50 | +0.400 | +0.200 | 0.25 | 0.20 | 0.75 | 0.50 | 9 |" in table
    assert "| decoder-eps0 | 1 | - | +0.000 | - | - | - | - | 0.00 | 0 |" in table  # nan (not logged) shows as -
    assert health["decoder-eps0"]["saturation"] is None  # and as null in summary.json, which stays strict JSON
    json.loads((tmp_path / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_every_study_row_is_a_valid_config_with_the_health_settings_and_its_own_last() -> None:
    from unigame_core.config import build_config
    from unigame_shapes.study import HEALTH, HEALTH_V1, MAP, ROWS, ROWS_V1, TRAIN_EPS, row_overrides

    for version, rows, health in ((2, {**ROWS, **MAP}, HEALTH), (1, ROWS_V1, HEALTH_V1)):
        for row in rows:
            preset, overrides = row_overrides(row, version)
            assert overrides[:len(health)] == health  # the row's own overrides come last, so they win
            cfg = build_config(None, f"ablations/{preset}", overrides)
            assert cfg.game.hardness_reference == "round_trip"
            expected = {"decoder-eps0": 0.0, "map-control": 0.0, "map-control-full": 0.0, "decoder-noise-eps0.3": 0.3,
                        "full-eps0.3": 0.3,
                        "map-eps0.025": 0.025, "map-eps0.1": 0.1}.get(row, TRAIN_EPS)
            assert cfg.game.eps_max == expected, row
            if version == 2:  # the game that plays: the authors' two lambdas, refinement unless it is the control
                assert (cfg.game.lambda_adv, cfg.game.lambda_reg) == (80.0, 1e-4), row
                refine = {"decoder-eps0": 0, "map-control": 0, "map-control-full": 0, "map-perturber-only": 0,
                          "map-k1": 1}.get(row, 3)
                assert cfg.game.refine_steps == refine, row
    assert build_config(None, "ablations/decoder", row_overrides("decoder-pgd")[1]).game.coupling == "decoder-pgd"
    assert build_config(None, "ablations/full", row_overrides("full-eps0.3", 1)[1]).game.lambda_reg == 1.0
    assert build_config(None, "ablations/decoder", row_overrides("decoder-noise", 1)[1]).game.coupling == \
        "decoder-noise"
