"""Loading Emu3 checkpoints (hub id or local folder, one code path) and random-weight construction."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from unigame_core import hub
from unigame_core.errors import DataError

from .settings import Emu3Settings

log = logging.getLogger(__name__)

_HINT = ("Download it first (`hf download {ckpt}`), point --model at a local checkpoint folder, or set "
         "backend.random_weights=true to build the architecture with random weights.")


def hub_kwargs(settings: Emu3Settings) -> dict[str, Any]:
    """The hub settings every ``from_pretrained`` call gets (HF_HUB_OFFLINE is honoured by transformers)."""
    return {"revision": settings.revision, "cache_dir": settings.cache_dir,
            "local_files_only": settings.local_files_only}


def _from_hub(settings: Emu3Settings) -> dict[str, Any]:
    """``hub_kwargs``; a hub id is checked first (cache, offline, reachable: ``unigame_core.hub``), so an
    unreachable hub fails in seconds with one sentence instead of minutes of retries."""
    kwargs = hub_kwargs(settings)
    ckpt = settings.checkpoint
    if not Path(ckpt).expanduser().is_dir():
        hint = (f"Download it where there is network (`hf download {ckpt} --local-dir DIR`) and pass --model DIR, "
                "copy that machine's Hugging Face cache (HF_HOME) here, or set backend.random_weights=true.")
        access = hub.resolve(ckpt, "Emu3 checkpoint", cache_dir=settings.cache_dir, revision=settings.revision,
                             local_files_only=settings.local_files_only, hint=hint)
        kwargs["local_files_only"] = access.local_files_only
    return kwargs


def _unavailable(ckpt: str, exc: Exception) -> DataError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"Cannot load Emu3 checkpoint '{ckpt}': {first}", _HINT.format(ckpt=ckpt))


def load_processor(settings: Emu3Settings) -> Any:
    """The checkpoint's ``Emu3Processor`` (image processor, tokenizer with the image tokens, chat template)."""
    from transformers import Emu3Processor

    try:
        return Emu3Processor.from_pretrained(settings.checkpoint, **_from_hub(settings))
    except (OSError, ValueError, AttributeError) as exc:
        raise _unavailable(settings.checkpoint, exc) from exc


def load_model(settings: Emu3Settings, device: torch.device, dtype: torch.dtype) -> Any:
    """``Emu3ForConditionalGeneration.from_pretrained`` straight onto ``device`` in ``dtype``."""
    from transformers import Emu3ForConditionalGeneration

    try:
        return Emu3ForConditionalGeneration.from_pretrained(
            settings.checkpoint, dtype=dtype, device_map={"": device},
            attn_implementation=settings.attn_implementation, **_from_hub(settings),
        )
    except (OSError, ValueError) as exc:
        raise _unavailable(settings.checkpoint, exc) from exc


def build_random(settings: Emu3Settings, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """(model, processor) with the checkpoint's architecture and random weights, built on ``device``.

    The config and processor come from the checkpoint (small files; no weights are read). On a CPU a hub
    architecture (8B parameters) is replaced by the tiny one, so ``unigame bench --model emu3-chat
    --random-weights`` still runs there; a local folder's config is always honoured.
    """
    from transformers import Emu3Config, Emu3ForConditionalGeneration

    ckpt = settings.checkpoint
    if device.type == "cpu" and not Path(ckpt).expanduser().is_dir():
        from .tiny import build_processor, build_tokenizer, tiny_config

        log.warning("random weights on CPU: building the tiny Emu3 architecture instead of '%s' "
                    "(the real shapes need a GPU)", ckpt)
        processor = build_processor(build_tokenizer(64), 24)
        config = tiny_config(processor.tokenizer)
    else:
        processor = load_processor(settings)
        try:
            config = Emu3Config.from_pretrained(ckpt, **_from_hub(settings))
        except (OSError, ValueError) as exc:
            raise _unavailable(ckpt, exc) from exc
    with torch.device(device):
        model = Emu3ForConditionalGeneration._from_config(config, dtype=dtype,
                                                          attn_implementation=settings.attn_implementation)
    return model, processor
