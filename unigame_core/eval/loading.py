"""Load the model an evaluation scores: the adapter folder checked before the model loads, then the backend
with its adapter (``unigame eval`` and lm-eval's ``--model unigame`` both come through here).

A run directory's adapter that is damaged (a file cut short, a config that is not JSON) or missing (the run
has not finished) falls back to the adapter of its newest intact checkpoint, with a warning naming each one
passed over. Adapter weights must be safetensors: a pickled ``adapter_model.bin`` is refused, never unpickled.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig
from safetensors import SafetensorError, safe_open

from ..errors import DataError
from ..interfaces import Backend
from ..paths import adapter_folder, check_regular

log = logging.getLogger(__name__)

ADAPTER_WEIGHTS = "adapter_model.safetensors"  # what peft saves (and the only weights unigame loads)
PICKLED_WEIGHTS = "adapter_model.bin"


def check_adapter(adapter: Path | None) -> Path | None:
    """What to load for ``adapter`` (a run directory with ``adapter/``, or the adapter folder itself), checked
    before the model loads: ``adapter`` itself when its adapter is intact; for a run directory whose adapter is
    damaged or missing, the newest intact checkpoint's adapter folder (each one passed over named in a warning).
    A DataError when nothing intact is found: the one problem, or the list of them."""
    if adapter is None:
        return None
    candidates = _candidates(adapter)
    problems: list[DataError] = []
    for folder in candidates:
        try:
            _check_folder(folder, adapter)
        except DataError as exc:
            problems.append(exc)
            continue
        for exc in problems:
            log.warning("%s; evaluating '%s' instead.", exc.message.rstrip("."), folder)
        return adapter if folder == candidates[0] else folder
    if len(problems) == 1:
        raise problems[0]
    raise DataError(f"No intact adapter in '{adapter}': "
                    + "; ".join(exc.message[0].lower() + exc.message[1:].rstrip(".") for exc in problems) + ".",
                    "Pass the folder a finished run wrote (RUN/adapter).")


def _candidates(adapter: Path) -> list[Path]:
    """Where an adapter may be: a run directory's ``adapter/``, then its checkpoints' newest first; else
    ``adapter`` itself."""
    path = Path(adapter)
    checkpoints = sorted((p for p in (path / "checkpoints").glob("step-*/adapter") if p.parent.name[5:].isdigit()),
                         key=lambda p: -int(p.parent.name[5:]))
    if not (path / "adapter").is_dir() and not checkpoints:
        return [adapter_folder(path)]
    return [path / "adapter", *checkpoints]


def _check_folder(folder: Path, adapter: Path) -> None:
    """A readable ``adapter_config.json`` and safetensors weights whose header covers the file, in ``folder``."""
    config = folder / "adapter_config.json"
    if not config.exists():
        if folder.parent == Path(adapter) and folder.name == "adapter" and not folder.is_dir():
            raise DataError(f"The run directory '{adapter}' has no adapter/ (its run has not finished).")
        raise DataError(
            f"No PEFT adapter found in '{folder}' "
            f"(expected {Path(adapter) / 'adapter' / 'adapter_config.json'}).",
            "Pass a run directory (with adapter/) or an adapter folder.",
        )
    check_regular(config, "The adapter config")  # a FIFO would block the read forever
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"The adapter config '{config}' is not valid JSON ({exc}).") from None
    if not isinstance(settings, dict):
        raise DataError(f"The adapter config '{config}' is not a JSON object.")
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        if (folder / PICKLED_WEIGHTS).is_file():
            raise DataError(f"The adapter folder '{folder}' holds a pickled {PICKLED_WEIGHTS}, which unigame does not "
                            f"load (unpickling a file can run code): an adapter must be {ADAPTER_WEIGHTS}.",
                            "Save it again with peft's save_pretrained, which writes safetensors by default.")
        raise DataError(f"The adapter folder '{folder}' has no weights ({ADAPTER_WEIGHTS}).",
                        "Pass the folder a finished run wrote (RUN/adapter).")
    try:
        with safe_open(str(weights), "pt"):  # reads the header only: a file cut short fails here
            pass
    except (OSError, SafetensorError) as exc:
        raise DataError(f"The adapter weights '{weights}' are damaged ({exc}).") from None


def load_model(cfg: DictConfig, adapter: str | Path | None = None, *, device: str | None = None) -> Backend:
    """Build the configured backend on its device, with the adapter loaded (inference mode) when given."""
    from ..run.build import build_backend, placement

    backend = build_backend(cfg, placement(device or cfg.train.device, cfg.train.precision))
    if adapter is not None:
        from ..lora import load_adapter

        load_adapter(backend, adapter)
    backend.model.eval()
    return backend
