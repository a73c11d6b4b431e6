"""torchrun with two gloo ranks equals one process with the same global batch, and never hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from unigame_core.testing import quick_overrides

WORKER = Path(__file__).with_name("ddp_worker.py")


def launch(nproc: int, out: Path, *extra: str) -> None:
    args = quick_overrides(out, "train.steps=4", "game.adversary_fraction=1.0", *extra)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port=0",
           "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0", str(WORKER), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(WORKER.parent)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_ranks_match_one_process(tmp_path: Path) -> None:
    launch(1, tmp_path / "one", "game.beta=0")
    launch(2, tmp_path / "two", "game.beta=0")
    for name in ("adapter/adapter_model.safetensors", "perturber.safetensors"):
        a, b = load_file(str(tmp_path / "one" / name)), load_file(str(tmp_path / "two" / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4), (name, k, (a[k] - b[k]).abs().max())
        assert any(v.abs().sum() > 0 for v in a.values())


def test_no_hang_when_one_ranks_buffer_is_empty(tmp_path: Path) -> None:
    launch(2, tmp_path / "run", "gate.name=rank0only", "buffer.tau=-1e9", "game.beta=1.0")
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").exists()
