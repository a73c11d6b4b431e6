"""Checkpoints that resume exactly, written atomically (temporary folder, then rename).

``checkpoints/step-N/`` holds: ``adapter/`` (PEFT), ``perturber.safetensors``, ``state.pt`` (both
optimizers and schedulers, the buffer, RNG states of python/numpy/torch/cuda and the game's own
generator, the step, fault counters). The data position is the step number (see data.loader).
"""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "game": generator.get_state(),
    }


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["game"])


def save_perturber(module: torch.nn.Module | None, path: Path) -> None:
    if module is not None:
        save_file({k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}, str(path))


def save_checkpoint(
    run_dir: Path, step: int, peft_model: Any, perturber: torch.nn.Module | None, state: dict[str, Any], keep: int
) -> Path:
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step}"
    tmp = root / f".tmp-step-{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    peft_model.save_pretrained(str(tmp / "adapter"))
    save_perturber(perturber, tmp / "perturber.safetensors")
    torch.save(state, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)  # atomic on one filesystem: a checkpoint is either whole or absent
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint saved: %s", final)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    found = [p for p in (run_dir / "checkpoints").glob("step-*") if p.is_dir() and (p / "state.pt").exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def load_checkpoint(path: Path, peft_model: Any, perturber: torch.nn.Module | None) -> dict[str, Any]:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file as load_st

    adapter_file = path / "adapter" / "adapter_model.safetensors"
    set_peft_model_state_dict(peft_model, load_st(str(adapter_file)))
    if perturber is not None:
        perturber.load_state_dict(load_file(str(path / "perturber.safetensors")))
    return torch.load(path / "state.pt", weights_only=False)
