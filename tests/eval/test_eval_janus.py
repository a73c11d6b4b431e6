"""``unigame eval`` on a tiny random Janus checkpoint: the real backend through every kind of suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import unigame_janus.backend  # noqa: F401  (an in-repo plugin: a broken import fails here, never skips)
from unigame_core.cli.main import app


@pytest.mark.slow
def test_official_shapes_and_consistency_suites_on_tiny_janus(data_root: Path, tmp_path: Path) -> None:
    from unigame_janus.tiny import write_tiny_checkpoint
    from unigame_shapes.world import vocabulary

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny-janus", words=vocabulary(), image_size=16, patch_size=4)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--suite", "pope,mmmu,shapes,consistency", "--model", str(checkpoint),
                                      "--data-root", str(data_root), "--limit", "3", "--batch-size", "4",
                                      "--output", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["backend"]["name"] == "janus"
    assert {name: s["n"] for name, s in doc["suites"].items()} == {"pope": 3, "mmmu": 3, "shapes": 3, "consistency": 3}
    values = {(r["suite"], r["metric"]): r["value"] for r in doc["results"]}
    assert 0.0 <= values[("shapes", "attack_accuracy")] <= 1.0 and 0.0 <= values[("consistency", "agreement")] <= 1.0
    assert all(v == 0.0 for (_, m), v in values.items() if m == "unreadable_images")
