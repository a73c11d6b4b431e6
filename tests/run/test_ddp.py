"""torchrun with two gloo ranks equals one process with the same global batch, and never hangs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unigame_core.testing import quick_overrides

WORKER = Path(__file__).with_name("ddp_worker.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# the worker's folder first, then the caller's own path (a checkout's code over the installed one)
WORKER_PATH = os.pathsep.join([str(WORKER.parent), *filter(None, [os.environ.get("PYTHONPATH")])])


def launch(nproc: int, out: Path, *extra: str, timeout: int = 240, env: dict[str, str] | None = None) -> None:
    args = quick_overrides(out, "train.steps=4", "game.adversary_fraction=1.0", *extra)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port=0",
           "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0", str(WORKER), *args]
    env = {**ENV, "PYTHONPATH": WORKER_PATH, **(env or {})}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_two_ranks_match_one_process(tmp_path: Path) -> None:
    """The buffer is on (every sample mined, beta 1): means over the global batch, one buffer gathered from
    every rank and one draw shared by all ranks make the updates equal up to float summation order. The
    refinement is on: it is per sample, so each rank refining its own samples equals one process refining all."""
    launch(1, tmp_path / "one", "buffer.tau=-1e9", "game.refine_steps=3")
    launch(2, tmp_path / "two", "buffer.tau=-1e9", "game.refine_steps=3")
    for name in ("adapter/adapter_model.safetensors", "perturber.safetensors"):
        a, b = load_file(str(tmp_path / "one" / name)), load_file(str(tmp_path / "two" / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5), (name, k, (a[k] - b[k]).abs().max())
        assert any(v.abs().sum() > 0 for v in a.values())
    one = [json.loads(r) for r in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert any(r["ce_adv"] is not None and r["ce_start"] is not None and r["ce_adv"] > r["ce_start"] for r in one)
    buffers = [json.loads(r)["buffer"] for r in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert buffers == [json.loads(r)["buffer"] for r in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_no_hang_when_one_ranks_buffer_is_empty(tmp_path: Path) -> None:
    launch(2, tmp_path / "run", "gate.name=rank0only", "buffer.tau=-1e9", "game.beta=1.0")
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").exists()
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    passes = {r["gate_pass"] for r in rows if r.get("gate_pass") is not None}
    assert passes == {0.5}  # rank 0 keeps all, rank 1 none: the pass rate of the global batch, not rank 0's 1.0


@pytest.mark.slow
def test_a_rank_whose_whole_batch_is_unreadable_still_trains(tmp_path: Path) -> None:
    launch(2, tmp_path / "run", "data.spec=holey:64", "buffer.tau=-1e9", timeout=120)
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["skipped_images"] for r in rows] == [0, 4, 4, 4]  # rank 1's batch of step 2, counted on rank 0
    assert all(r["skipped_updates"] == 0 and r["loss_u"] is not None for r in rows)  # step 2 trained on rank 0's half


@pytest.mark.slow
def test_a_rank_that_never_reads_an_image_trains_on_the_others(tmp_path: Path) -> None:
    """The all-unreadable check counts the global batch: rank 1 alone reading nothing (16 tries by step 4)
    is not "no readable data", and stopping it alone would leave rank 0 waiting in a collective."""
    launch(2, tmp_path / "run", "data.spec=dark1:64", "buffer.tau=-1e9", timeout=120)
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["skipped_images"] for r in rows] == [4, 8, 12, 16]  # cumulative: rank 1's 4 per step


@pytest.mark.slow
def test_the_documented_torchrun_command_trains_the_default_model(tmp_path: Path) -> None:
    """README / docs/training.md: ``torchrun --nproc_per_node N -m unigame_core.cli.main train ...``."""
    out = tmp_path / "run"
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "unigame_core.cli.main", "train",
           "--output", str(out), "train.steps=2", "train.batch_size=2", "train.eval_suites=[]",
           "train.sample_every=0", "train.log_every=1", "train.loggers=[]"]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert (out / "checkpoints" / "step-2" / "state.json").exists()
    assert [json.loads(r)["step"] for r in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]


@pytest.mark.slow
def test_every_rank_keeps_the_same_buffer_hardness_through_rescoring(tmp_path: Path) -> None:
    """Re-scoring runs the understander on each rank, where LoRA dropout draws each rank's own mask: rank 0's
    numbers are broadcast, so the buffers (and so the draws every rank shares) stay identical."""
    log = tmp_path / "rescore"
    launch(2, tmp_path / "run", "buffer.name=recording", "buffer.tau=-1e9", "lora.dropout=0.5",
           "game.rescore_every=1", env={"RESCORE_LOG": str(log)})
    zero, one = (Path(f"{log}.rank{r}").read_text().splitlines() for r in (0, 1))
    assert len(zero) == 4 and zero == one  # every step re-scored, the same hardness on both ranks
    assert any(json.loads(line) for line in zero)  # the buffer was not empty


@pytest.mark.slow
def test_a_run_directory_in_use_stops_every_rank_without_a_hang(tmp_path: Path) -> None:
    """Only rank 0 takes the run directory's lock; the other ranks learn that it could not, and stop too."""
    from unigame_core.run import lock

    run = tmp_path / "run"
    run.mkdir()
    held = lock.acquire(run)
    try:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=0",
               "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0", str(WORKER), *quick_overrides(run)]
        proc = subprocess.run(cmd, env={**ENV, "PYTHONPATH": WORKER_PATH}, capture_output=True, text=True,
                              timeout=120)
    finally:
        held.release()
    assert proc.returncode != 0
    said = f"The run directory '{run}' is in use by another unigame train (pid {os.getpid()}"
    assert proc.stderr.count(said) >= 2, proc.stderr[-3000:]  # rank 0 and rank 1 both stopped with it
    assert sorted(p.name for p in run.iterdir()) == []  # nothing written, the lock released
