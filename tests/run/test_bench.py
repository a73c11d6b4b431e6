"""``unigame bench`` on the fake backend: it reports each block as it finishes, writes every figure to
bench.json and bench.md, measures a block's peak memory, and times batched and one-at-a-time answering."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from unigame_core.cli.main import app
from unigame_core.run import bench
from unigame_core.run.measure import rss_bytes

BLOCK_KEYS = {"name", "seconds", "x_sft", "peak_gib", "warmup_s", "times"}


@pytest.fixture
def bench_log() -> Iterator[list[logging.LogRecord]]:
    """The bench module's log records (on its own logger: the CLI's logging setup replaces the root's handlers)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    bench.log.addHandler(handler)
    yield records
    bench.log.removeHandler(handler)


@pytest.mark.usefixtures("fake_plugin")
def test_bench_logs_each_block_as_it_finishes_and_writes_every_figure(tmp_path: Path,
                                                                      bench_log: list[logging.LogRecord]) -> None:
    out = tmp_path / "bench"
    result = CliRunner().invoke(app, ["bench", "--model", "fake-tiny", "--batch-size", "2", "--steps", "2",
                                      "--output", str(out), "--eval", "--max-new-tokens", "3",
                                      "schedule.mine_every=2"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "bench.json").read_text())
    assert doc["model"] == "fake-tiny" and doc["backend"] == "fake" and doc["batch_size"] == 2
    assert doc["weights"] == "checkpoint" and "[" not in doc["model"]
    assert doc["steps"] == doc["rounds_done"] == 2 and doc["threads"] == torch.get_num_threads()
    assert doc["device"].startswith("CPU") and doc["dtype"] == "float32" and "RSS" in doc["peak_memory"]
    assert doc["overrides"] == ["schedule.mine_every=2"]
    names = [b["name"] for b in doc["blocks"]]
    assert names[0].startswith("SFT step") and names[-1].startswith("UniGame step")
    assert any(n.startswith("refinement") for n in names) and any(n.startswith("adversary turn") for n in names)
    for block in doc["blocks"]:
        assert set(block) == BLOCK_KEYS and len(block["times"]) == 2 and block["seconds"] > 0
        sft = doc["blocks"][0]["seconds"]
        assert block["peak_gib"] > 0 and block["x_sft"] == pytest.approx(block["seconds"] / sft, rel=1e-2, abs=1e-3)
    assert doc["unigame_over_sft"] == pytest.approx(doc["blocks"][-1]["x_sft"], abs=1e-3)
    rates = doc["answering"]["samples_per_s"]
    assert set(rates) == {"1", "2"} and all(r > 0 for r in rates.values())
    assert doc["answering"]["samples"] == 4 and doc["answering"]["max_new_tokens"] == 3
    table = (out / "bench.md").read_text()
    assert "| block | median s | x SFT | peak GiB |" in table and all(f"| {n} |" in table for n in names)
    assert "| 1 |" in table and "| 2 |" in table
    # each block is logged when its warm-up ends, before any timed round; then one line per round
    messages = [r.getMessage() for r in bench_log]
    warmups = [i for i, m in enumerate(messages) if ": warm-up " in m]
    rounds = [i for i, m in enumerate(messages) if m.startswith("round ")]
    assert len(warmups) == len(names) and len(rounds) == 2 and max(warmups) < min(rounds)
    assert [messages[i].split(": warm-up")[0] for i in warmups] == names
    assert "answering at batch 2:" in result.output and "UniGame / SFT step cost ratio:" in result.output


@pytest.mark.usefixtures("fake_plugin")
def test_bench_keeps_the_rounds_it_finished_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench.json is rewritten after every round: a run stopped in round 2 keeps round 1's figures."""
    real = bench.game_step
    calls = {"n": 0}

    def stopping(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] > 2 * 2:  # warm-up and round 1 of the 2-step cycle; stop in round 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "game_step", stopping)
    result = CliRunner().invoke(app, ["bench", "--model", "fake-tiny", "--batch-size", "2", "--steps", "3",
                                      "--output", str(tmp_path)])
    assert result.exit_code != 0
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["rounds_done"] == 1 and all(len(b["times"]) == 1 for b in doc["blocks"])


_PEAK_PROBE = """
import time, torch
from unigame_core.run.measure import PeakMemory, rss_bytes
with PeakMemory(torch.device("cpu")) as peak:
    big = torch.ones(24 * 2**20)  # 96 MiB, touched, held until sampled (a busy machine delays the sampler)
    deadline = time.monotonic() + 10
    while peak._seen / 2**30 - peak.before <= 0.08 and time.monotonic() < deadline:
        time.sleep(0.01)
    del big  # freed before the block ends
print(peak.before, peak.gib, rss_bytes() / 2**30)
"""


def test_cpu_peak_memory_sees_a_block_that_freed_what_it_took() -> None:
    """In a fresh interpreter: after a long test session the allocator may serve the block from memory the
    process already holds, and then the RSS, rightly, does not grow."""
    if rss_bytes() is None:
        pytest.skip("no RSS reading on this platform")
    out = subprocess.run([sys.executable, "-c", _PEAK_PROBE], capture_output=True, text=True, check=True)
    before, peak, after = map(float, out.stdout.split())
    assert peak - before > 0.08 and peak - after > 0.08


def test_bench_refuses_an_output_that_is_a_file_before_any_model_loads(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(app, ["bench", "--model", "janus-pro-7b", "--output", str(blocker)])
    assert result.exit_code == 2 and "is an existing file" in result.output


def test_the_bench_says_what_its_weights_are_in_the_title_and_the_json() -> None:
    """A tiny stand-in's figures once printed under the real model's name alone (issue 30)."""
    from unigame_core.run.bench_report import BenchReport

    label = "TINY STAND-IN for 'deepseek-community/Janus-Pro-1B' (random weights, not the real architecture)"
    common = dict(model="janus-pro-1b", backend="janus", device="CPU (2 cores)", dtype="float32", threads=1,
                  batch_size=2, steps=1, peak_memory="RSS")
    tiny, real = BenchReport(weights=label, **common), BenchReport(**common)
    assert f"janus-pro-1b [{label}]" in tiny.title() and tiny.as_dict()["weights"] == label
    assert "[" not in real.title() and real.as_dict()["weights"] == "checkpoint"
