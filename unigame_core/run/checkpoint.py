"""Checkpoints that resume exactly, written atomically (temporary folder, then rename), read without pickle.

``checkpoints/step-N/`` holds: ``adapter/`` (PEFT), ``perturber.safetensors``, and the training state split
in two: ``state.safetensors`` (every tensor: optimizer moments, buffer images, RNG states) and ``state.json``
(everything else: step, fault counters, scheduler states, buffer texts, python/numpy RNG states, with each
tensor replaced by a reference into the safetensors file). Nothing is unpickled on resume, so a crafted run
directory cannot run code; an old ``state.pt`` (pickle) is refused, never loaded. The data position is the
step number (see data.loader).

A checkpoint that cannot be read back whole (a file cut short or missing, state.json not JSON, only a pickled
``state.pt``) is ``DamagedCheckpoint``: resume names it and takes the one before (``train_state``). A write the
disk refuses leaves no temporary folder behind and is one sentence.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import DataError
from ..paths import unwritable

log = logging.getLogger(__name__)

STATE_JSON = "state.json"
STATE_TENSORS = "state.safetensors"
LEGACY_STATE = "state.pt"
ADAPTER_WEIGHTS = "adapter/adapter_model.safetensors"
PERTURBER = "perturber.safetensors"


class DamagedCheckpoint(DataError):
    """A checkpoint that cannot be resumed from; ``reason`` says why, e.g. 'is damaged: state.json is ...'."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"Checkpoint '{path}' {reason}.")
        self.path, self.reason = path, reason


@dataclass
class Saved:
    """A checkpoint read back whole, before any of it goes into the players."""

    adapter: dict[str, torch.Tensor]
    perturber: dict[str, torch.Tensor] | None
    state: dict[str, Any]


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


def encode_state(state: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested state into JSON-able data and a flat dict of tensors (referenced as ``{"__tensor__": k}``).

    Tuples and dicts with non-string keys (optimizer states are keyed by parameter index) are tagged so that
    ``decode_state`` rebuilds exactly the same types; numpy arrays (numpy's RNG state) become tensors."""
    tensors: dict[str, torch.Tensor] = {}

    def enc(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = x.detach().cpu().contiguous().clone()
            return {"__tensor__": key}
        if isinstance(x, np.ndarray):
            key = f"t{len(tensors)}"
            tensors[key] = torch.from_numpy(x.astype(np.int64) if x.dtype == np.uint32 else x.copy())
            return {"__ndarray__": key, "dtype": str(x.dtype)}
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in x):
                return {k: enc(v) for k, v in x.items()}
            return {"__dict__": [[enc(k), enc(v)] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"__tuple__": [enc(v) for v in x]}
        if isinstance(x, list):
            return [enc(v) for v in x]
        if isinstance(x, (np.integer, np.floating, np.bool_)):
            return x.item()
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"cannot store a {type(x).__name__} in a checkpoint")

    return enc(state), tensors


def decode_state(data: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of ``encode_state``: only plain JSON values, tuples, dicts and the stored tensors come back."""
    if isinstance(data, list):
        return [decode_state(v, tensors) for v in data]
    if not isinstance(data, dict):
        return data
    if "__tensor__" in data:
        return tensors[data["__tensor__"]]
    if "__ndarray__" in data:
        return tensors[data["__ndarray__"]].numpy().astype(np.dtype(data["dtype"]))
    if "__tuple__" in data:
        return tuple(decode_state(v, tensors) for v in data["__tuple__"])
    if "__dict__" in data:
        return {decode_state(k, tensors): decode_state(v, tensors) for k, v in data["__dict__"]}
    return {k: decode_state(v, tensors) for k, v in data.items()}


def save_state(state: dict[str, Any], folder: Path) -> None:
    data, tensors = encode_state(state)
    save_file(tensors, str(folder / STATE_TENSORS))
    (folder / STATE_JSON).write_text(json.dumps(data))


def load_state(folder: Path) -> dict[str, Any]:
    data = _read(folder, STATE_JSON, lambda path: json.loads(path.read_text()))
    tensors = _read(folder, STATE_TENSORS, lambda path: load_file(str(path)))
    try:
        return decode_state(data, tensors)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DamagedCheckpoint(folder, f"is damaged: {STATE_JSON} does not match {STATE_TENSORS} "
                                        f"({type(exc).__name__}: {exc})") from exc


def read_checkpoint(path: Path, perturber: bool, keys: Iterable[str] = ()) -> Saved:
    """Every file of the checkpoint at ``path`` read (the perturber's with ``perturber``) and the state's
    ``keys`` present, or ``DamagedCheckpoint`` saying which file is missing or unreadable."""
    if not (path / STATE_JSON).exists() and (path / LEGACY_STATE).exists():
        raise DamagedCheckpoint(path, f"holds a pickled {LEGACY_STATE}, which unigame does not load (unpickling a "
                                      "file can run code)")
    adapter = _read(path, ADAPTER_WEIGHTS, lambda file: load_file(str(file)))
    weights = _read(path, PERTURBER, lambda file: load_file(str(file))) if perturber else None
    state = load_state(path)
    missing = [key for key in keys if key not in state] if isinstance(state, dict) else ["everything"]
    if missing:
        raise DamagedCheckpoint(path, f"is damaged: {STATE_JSON} lacks {', '.join(missing)}")
    return Saved(adapter, weights, state)


def _read(folder: Path, name: str, read: Any) -> Any:
    file = folder / name
    if not file.is_file():
        raise DamagedCheckpoint(folder, f"is damaged: {name} is missing")
    try:
        return read(file)
    except json.JSONDecodeError as exc:
        raise DamagedCheckpoint(folder, f"is damaged: {name} is not valid JSON ({exc})") from exc
    except (OSError, ValueError, SafetensorError) as exc:
        raise DamagedCheckpoint(folder, f"is damaged: {name} is unreadable ({exc})") from exc


def save_perturber(module: torch.nn.Module | None, path: Path) -> None:
    if module is not None:
        save_file({k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}, str(path))


def save_checkpoint(
    run_dir: Path, step: int, peft_model: Any, perturber: torch.nn.Module | None, state: dict[str, Any], keep: int,
    prune: bool = True,
) -> Path:
    """Write ``checkpoints/step-N``; then keep the newest ``keep`` (all when ``keep <= 0`` or ``prune`` is off)."""
    root = run_dir / "checkpoints"
    final = root / f"step-{step}"
    tmp = root / f".tmp-step-{step}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        peft_model.save_pretrained(str(tmp / "adapter"))
        save_perturber(perturber, tmp / PERTURBER)
        save_state(state, tmp)
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)  # atomic on one filesystem: a checkpoint is either whole or absent
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # never a half-written checkpoint left behind
        error = unwritable(final, exc, "the checkpoint", f", then continue with: unigame train --resume {run_dir}")
        if error is not None:
            raise error from exc
        raise
    for old in list_checkpoints(run_dir)[:-keep] if (keep > 0 and prune) else []:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint saved: %s", final)
    return final


def _step_dirs(run_dir: Path, marker: str | None) -> list[Path]:
    found = [p for p in (run_dir / "checkpoints").glob("step-*")
             if p.is_dir() and p.name[5:].isdigit() and (marker is None or (p / marker).exists())]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of this format, oldest first."""
    return _step_dirs(run_dir, STATE_JSON)


def step_dirs(run_dir: Path) -> list[Path]:
    """Every ``checkpoints/step-N`` folder, whole or not, oldest first (what resume tries, newest first)."""
    return _step_dirs(run_dir, None)


def has_checkpoint(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds any checkpoint: of this format, or a pickled one (which resume names)."""
    return bool(list_checkpoints(run_dir) or _step_dirs(run_dir, LEGACY_STATE))
