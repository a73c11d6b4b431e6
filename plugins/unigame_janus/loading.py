"""Loading Janus checkpoints (hub id or local folder, one code path) and random-weight construction."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from unigame_core.errors import ConfigError, DataError
from unigame_core.hf import check_fits, count_parameters, pretrained

from .settings import JANUS_PRO_1B, JANUS_PRO_7B, JanusSettings
from .tiny import IMAGE_TOKENS, build_processor, build_tokenizer, set_generation_defaults, tiny_config

log = logging.getLogger(__name__)

ARCH_DIR = Path(__file__).parent / "arch"
ARCH_FILES = {JANUS_PRO_1B: "janus-pro-1b.json", JANUS_PRO_7B: "janus-pro-7b.json"}


def load_processor(settings: JanusSettings, **overrides: Any) -> Any:
    """The checkpoint's ``JanusProcessor`` (image processor, tokenizer with the image tokens, chat template)."""
    from transformers import JanusProcessor

    with pretrained(settings, **overrides) as kwargs:
        return JanusProcessor.from_pretrained(settings.checkpoint, extra_special_tokens=dict(IMAGE_TOKENS), **kwargs)


def load_model(settings: JanusSettings, device: torch.device, dtype: torch.dtype) -> Any:
    """``JanusForConditionalGeneration.from_pretrained`` straight onto ``device`` in ``dtype``."""
    from transformers import JanusForConditionalGeneration

    with pretrained(settings) as kwargs:
        return JanusForConditionalGeneration.from_pretrained(
            settings.checkpoint, dtype=dtype, device_map={"": device}, attn_implementation=settings.attn_implementation,
            **kwargs,
        )


def _architecture(settings: JanusSettings) -> Any:
    """The config to build. Local folders and shipped architectures need no network."""
    from transformers import JanusConfig

    ckpt = settings.checkpoint
    if Path(ckpt).is_dir():
        return JanusConfig.from_pretrained(ckpt)
    if ckpt in ARCH_FILES:
        return JanusConfig.from_dict(json.loads((ARCH_DIR / ARCH_FILES[ckpt]).read_text()))
    with pretrained(settings) as kwargs:
        return JanusConfig.from_pretrained(ckpt, **kwargs)


def build_random(settings: JanusSettings, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """(model, processor) with the checkpoint's architecture and random weights, built on ``device``.

    The architecture is the real one on every device: a local folder's config, a shipped architecture file
    (``arch/``: the aliases, no network), else the hub config. The processor is the cached one if any, else
    Janus' processor at the real image size around a generic word-level tokenizer (ids differ, the vocabulary
    width is the real one). Only ``settings.tiny`` builds the tiny architecture (a labelled stand-in).
    """
    from transformers import JanusForConditionalGeneration

    if settings.tiny:
        tokenizer = build_tokenizer()
        config = tiny_config(tokenizer)
        processor = _generic_processor(config, tokenizer)
    else:
        config = _architecture(settings)
        try:
            processor = load_processor(settings, local_files_only=True)
        except DataError:
            log.info("no tokenizer/processor cached for '%s': using a generic one at the real image size",
                     settings.checkpoint)
            processor = _generic_processor(config)
    _match_tokens(config, processor.tokenizer)

    def build() -> Any:
        return JanusForConditionalGeneration._from_config(config, dtype=dtype,
                                                          attn_implementation=settings.attn_implementation)

    check_fits(f"{settings.label} '{settings.checkpoint}'", count_parameters(build), device, dtype)
    with torch.device(device):
        model = build()
    set_generation_defaults(model, processor.tokenizer)
    return model, processor


def _generic_processor(config: Any, tokenizer: Any = None) -> Any:
    """Janus' processor at the config's image size around a word-level tokenizer with Janus' special tokens."""
    vision = config.vision_config
    return build_processor(tokenizer or build_tokenizer(), vision.image_size, vision.num_image_tokens)


def _match_tokens(config: Any, tokenizer: Any) -> None:
    """Point the config's special ids at the tokenizer's (a generic tokenizer has its own ids)."""
    text = config.text_config
    if len(tokenizer) > text.vocab_size:
        raise ConfigError(f"Tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {text.vocab_size}.")
    config.image_token_id = tokenizer.convert_tokens_to_ids(tokenizer.image_token)
    text.bos_token_id, text.eos_token_id, text.pad_token_id = (
        tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
