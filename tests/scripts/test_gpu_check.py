"""scripts/gpu_check.py --tiny: the GPU check's own run on the tiny architectures, on a CPU, as CI runs it."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"
ROW_KEYS = {"status", "device", "dtype", "batch_size", "overrides", "sft_s", "sft_peak_gib", "unigame_s",
            "unigame_peak_gib", "unigame_over_sft", "peak_gib", "answering", "batch1_samples_per_s", "best_batch",
            "best_samples_per_s", "bench", "wall_s"}


@pytest.mark.slow
def test_tiny_gpu_check_writes_every_models_figures_and_records_a_failing_one(tmp_path: Path) -> None:
    main = runpy.run_path(str(SCRIPT), run_name="gpu_check")["main"]
    out = tmp_path / "check"
    summary = main(["--tiny", "--output", str(out), "--models", "janus-pro-7b,no-such-model,emu3-chat,blip3o-8b"])
    doc = json.loads((out / "gpu_check.json").read_text())
    assert doc == summary and doc["device"] == "CPU" and doc["mode"].startswith("tiny")
    assert list(doc["models"]) == ["janus-pro-7b", "no-such-model", "emu3-chat", "blip3o-8b"]
    failed = doc["models"]["no-such-model"]
    assert failed["status"] == "error" and "no-such-model" in failed["error"]  # recorded; the next models still ran
    for alias in ("janus-pro-7b", "emu3-chat", "blip3o-8b"):
        row = doc["models"][alias]
        assert row["status"] == "ok", row.get("traceback")
        assert set(row) == ROW_KEYS and row["batch_size"] == 2 and row["dtype"] == "float32"
        assert row["sft_s"] > 0 and row["unigame_s"] > 0 and row["peak_gib"] > 0
        assert row["unigame_over_sft"] == pytest.approx(row["unigame_s"] / row["sft_s"], rel=1e-2)
        assert row["batch1_samples_per_s"] > 0 and row["best_batch"] in (1, 2) and row["best_samples_per_s"] > 0
        assert set(row["answering"]["samples_per_s"]) == {"1", "2"}
        assert json.loads(Path(row["bench"]).read_text())["model"] == alias
    table = (out / "gpu_check.md").read_text()
    assert "| model | batch | SFT step s | UniGame step s | x SFT | peak GiB |" in table
    assert all(f"| {alias} |" in table for alias in doc["models"]) and "| error: " in table
