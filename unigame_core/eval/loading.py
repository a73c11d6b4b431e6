"""Load the model an evaluation scores: the adapter folder checked before the model loads, then the backend
with its adapter (``unigame eval`` and lm-eval's ``--model unigame`` both come through here)."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from ..errors import DataError
from ..interfaces import Backend
from ..paths import adapter_folder

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")  # what peft saves and loads


def check_adapter(adapter: Path | None) -> None:
    """The adapter folder (a run directory with ``adapter/`` or the adapter itself) must hold a readable
    ``adapter_config.json`` and the adapter's weights, checked before the model loads."""
    if adapter is None:
        return
    folder = adapter_folder(adapter)
    config = folder / "adapter_config.json"
    if not config.exists():
        raise DataError(
            f"No PEFT adapter found in '{adapter}' (expected {Path(adapter) / 'adapter' / 'adapter_config.json'}).",
            "Pass a run directory (with adapter/) or an adapter folder.",
        )
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"The adapter config '{config}' is not valid JSON ({exc}).") from None
    if not isinstance(settings, dict):
        raise DataError(f"The adapter config '{config}' is not a JSON object.")
    if not any((folder / name).is_file() for name in ADAPTER_WEIGHTS):
        raise DataError(f"The adapter folder '{folder}' has no weights ({' or '.join(ADAPTER_WEIGHTS)}).",
                        "Pass the folder a finished run wrote (RUN/adapter).")


def load_model(cfg: DictConfig, adapter: str | Path | None = None, *, device: str | None = None) -> Backend:
    """Build the configured backend on its device, with the adapter loaded (inference mode) when given."""
    from ..run.build import build_backend, placement

    backend = build_backend(cfg, placement(device or cfg.train.device, cfg.train.precision))
    if adapter is not None:
        from ..lora import load_adapter

        load_adapter(backend, adapter)
    backend.model.eval()
    return backend
