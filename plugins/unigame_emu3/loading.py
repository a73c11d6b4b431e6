"""Loading Emu3 checkpoints (hub id or local folder, one code path) and random-weight construction."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from unigame_core.errors import ConfigError, DataError
from unigame_core.hf import check_fits, count_parameters, pretrained

from .settings import EMU3_CHAT, EMU3_GEN, Emu3Settings

log = logging.getLogger(__name__)

ARCH_DIR = Path(__file__).parent / "arch"
#: the architectures that ship with the plugin (``config.json`` of the converted checkpoints, without the
#: 184622-entry ``vocabulary_map``, which comes from the tokenizer): random weights need no network for these
ARCH_FILES = {EMU3_CHAT: "emu3-chat.json", EMU3_GEN: "emu3-gen.json"}


def load_processor(settings: Emu3Settings, **overrides: Any) -> Any:
    """The checkpoint's ``Emu3Processor`` (image processor, tokenizer with the image tokens, chat template)."""
    from transformers import Emu3Processor

    with pretrained(settings, **overrides) as kwargs:
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

    The architecture is the real one on every device: a local folder's config, a shipped architecture file
    (``arch/``: the aliases, no network), else the hub config. The processor is the checkpoint's when it is
    at hand (a folder, the cache), else Emu3's image processor (512 px) around a generic word-level
    tokenizer with every ``<|visual token k|>`` of the real codebook (ids differ from the real tokenizer's;
    the vocabulary width is the real one). Only ``settings.tiny`` builds the tiny architecture (a stand-in).
    """
    from transformers import Emu3Config, Emu3ForConditionalGeneration

    from .tiny import build_processor, build_tokenizer, tiny_config

    ckpt = settings.checkpoint
    if settings.tiny:
        processor = build_processor(build_tokenizer(64), 24)
        config = tiny_config(processor.tokenizer)
    elif Path(ckpt).is_dir() or ckpt not in ARCH_FILES:
        processor = _processor(settings, local=ckpt in ARCH_FILES)
        with pretrained(settings) as kwargs:
            config = Emu3Config.from_pretrained(ckpt, **kwargs)
    else:
        values = json.loads((ARCH_DIR / ARCH_FILES[ckpt]).read_text())
        processor = _processor(settings, local=True, codebook=int(values["vq_config"]["codebook_size"]))
        config = _with_vocabulary(values, processor.tokenizer)

    def build() -> Any:
        return Emu3ForConditionalGeneration._from_config(config, dtype=dtype,
                                                         attn_implementation=settings.attn_implementation)

    check_fits(f"{settings.label} '{ckpt}'", count_parameters(build), device, dtype)
    with torch.device(device):
        model = build()
    return model, processor


def _processor(settings: Emu3Settings, *, local: bool, codebook: int | None = None) -> Any:
    """The checkpoint's processor (from the cache only when ``local``), else the generic one."""
    try:
        return load_processor(settings, **({"local_files_only": True} if local else {}))
    except DataError:
        if codebook is None:
            raise
    log.info("no tokenizer/processor cached for '%s': using a generic one (Emu3's image processor, %d visual "
             "tokens)", settings.checkpoint, codebook)
    return generic_processor(codebook)


def generic_processor(codebook: int) -> Any:
    """Emu3's processor with its own image processor (512..1024 px, spatial factor 8) around the word-level
    tokenizer of ``tiny.py`` holding all ``codebook`` visual tokens."""
    from transformers import Emu3ImageProcessor, Emu3Processor

    from .tiny import CHAT_TEMPLATE, build_tokenizer

    tokenizer = build_tokenizer(codebook, visual_special=False)
    return Emu3Processor(image_processor=Emu3ImageProcessor(), tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def _with_vocabulary(values: dict[str, Any], tokenizer: Any) -> Any:
    """``Emu3Config`` from an architecture file, its ``vocabulary_map`` and special ids from ``tokenizer``."""
    from transformers import Emu3Config

    text = dict(values["text_config"])
    if len(tokenizer) > int(text["vocab_size"]):
        raise ConfigError(f"Tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {text['vocab_size']}.")
    text.update(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id)
    return Emu3Config.from_dict({**values, "text_config": text, "vocabulary_map": dict(tokenizer.get_vocab())})
