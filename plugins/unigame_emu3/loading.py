"""Loading Emu3 checkpoints (hub id or local folder, one code path) and random-weight construction."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from unigame_core.hf import pretrained

from .settings import Emu3Settings

log = logging.getLogger(__name__)

def load_processor(settings: Emu3Settings) -> Any:
    """The checkpoint's ``Emu3Processor`` (image processor, tokenizer with the image tokens, chat template)."""
    from transformers import Emu3Processor

    with pretrained(settings) as kwargs:
        return Emu3Processor.from_pretrained(settings.checkpoint, **kwargs)


def load_model(settings: Emu3Settings, device: torch.device, dtype: torch.dtype) -> Any:
    """``Emu3ForConditionalGeneration.from_pretrained`` straight onto ``device`` in ``dtype``."""
    from transformers import Emu3ForConditionalGeneration

    with pretrained(settings) as kwargs:
        return Emu3ForConditionalGeneration.from_pretrained(
            settings.checkpoint, dtype=dtype, device_map={"": device},
            attn_implementation=settings.attn_implementation, **kwargs,
        )


def build_random(settings: Emu3Settings, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """(model, processor) with the checkpoint's architecture and random weights, built on ``device``.

    The config and processor come from the checkpoint (small files; no weights are read). On a CPU a hub
    architecture (8B parameters) is replaced by the tiny one, so ``unigame bench --model emu3-chat
    --random-weights`` still runs there; a local folder's config is always honoured.
    """
    from transformers import Emu3Config, Emu3ForConditionalGeneration

    ckpt = settings.checkpoint
    if device.type == "cpu" and not Path(ckpt).is_dir():
        from .tiny import build_processor, build_tokenizer, tiny_config

        log.warning("random weights on CPU: building the tiny Emu3 architecture instead of '%s' "
                    "(the real shapes need a GPU)", ckpt)
        processor = build_processor(build_tokenizer(64), 24)
        config = tiny_config(processor.tokenizer)
    else:
        processor = load_processor(settings)
        with pretrained(settings) as kwargs:
            config = Emu3Config.from_pretrained(ckpt, **kwargs)
    with torch.device(device):
        model = Emu3ForConditionalGeneration._from_config(config, dtype=dtype,
                                                          attn_implementation=settings.attn_implementation)
    return model, processor
