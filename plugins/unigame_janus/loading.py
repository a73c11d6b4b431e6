"""Loading Janus checkpoints (hub id or local folder, one code path) and random-weight construction."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import HFValidationError

from unigame_core import hub
from unigame_core.errors import ConfigError, DataError

from .settings import JANUS_PRO_1B, JANUS_PRO_7B, JanusSettings
from .tiny import IMAGE_TOKENS, build_processor, build_tokenizer, set_generation_defaults, tiny_config

log = logging.getLogger(__name__)

ARCH_DIR = Path(__file__).parent / "arch"
ARCH_FILES = {JANUS_PRO_1B: "janus-pro-1b.json", JANUS_PRO_7B: "janus-pro-7b.json"}
_OFFLINE_HINT = ("Download it where there is network (`hf download {ckpt} --local-dir DIR`) and pass --model DIR, "
                 "copy that machine's Hugging Face cache (HF_HOME) here, or set backend.random_weights=true.")
_HINT = ("Download it first (`hf download {ckpt}`), point --model at a local checkpoint folder, or set "
         "backend.random_weights=true to build the architecture with random weights.")


def hub_kwargs(settings: JanusSettings) -> dict[str, Any]:
    """The hub settings every ``from_pretrained`` call gets (HF_HUB_OFFLINE is honoured by transformers)."""
    return {
        "revision": settings.revision,
        "cache_dir": settings.cache_dir,
        "local_files_only": settings.local_files_only,
    }


def _from_hub(settings: JanusSettings, ckpt: str, **overrides: Any) -> dict[str, Any]:
    """``hub_kwargs`` for ``ckpt``; a hub id is checked first (cache, offline, reachable: ``unigame_core.hub``),
    so an unreachable hub fails in seconds with one sentence instead of minutes of retries."""
    kwargs = {**hub_kwargs(settings), **overrides}
    if not Path(ckpt).is_dir():
        access = hub.resolve(ckpt, "Janus checkpoint", cache_dir=kwargs["cache_dir"], revision=kwargs["revision"],
                             local_files_only=bool(kwargs["local_files_only"]), hint=_OFFLINE_HINT.format(ckpt=ckpt))
        kwargs["local_files_only"] = access.local_files_only
    return kwargs


def source(settings: JanusSettings) -> str:
    """The checkpoint as ``from_pretrained`` takes it: a local folder (``~`` expanded) or a hub id."""
    ckpt = settings.checkpoint
    folder = Path(ckpt).expanduser()
    if folder.is_dir():
        return str(folder)
    if ckpt.startswith(("/", ".", "~")) or ckpt.count("/") > 1:
        raise DataError(f"Checkpoint folder '{ckpt}' does not exist.",
                        f"Pass a folder saved with save_pretrained, or a hub id such as {JANUS_PRO_7B}.")
    return ckpt


def _unavailable(ckpt: str, exc: Exception) -> DataError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"Cannot load Janus checkpoint '{ckpt}': {first}", _HINT.format(ckpt=ckpt))


def load_processor(settings: JanusSettings, **overrides: Any) -> Any:
    """The checkpoint's ``JanusProcessor`` (image processor, tokenizer with the image tokens, chat template)."""
    from transformers import JanusProcessor

    ckpt = source(settings)
    kwargs = _from_hub(settings, ckpt, **overrides)
    try:
        return JanusProcessor.from_pretrained(ckpt, extra_special_tokens=dict(IMAGE_TOKENS), **kwargs)
    except (OSError, HFValidationError) as exc:
        raise _unavailable(settings.checkpoint, exc) from exc


def load_model(settings: JanusSettings, device: torch.device, dtype: torch.dtype) -> Any:
    """``JanusForConditionalGeneration.from_pretrained`` straight onto ``device`` in ``dtype``."""
    from transformers import JanusForConditionalGeneration

    ckpt = source(settings)
    kwargs = _from_hub(settings, ckpt)
    try:
        return JanusForConditionalGeneration.from_pretrained(
            ckpt, dtype=dtype, device_map={"": device}, attn_implementation=settings.attn_implementation, **kwargs,
        )
    except (OSError, HFValidationError) as exc:
        raise _unavailable(settings.checkpoint, exc) from exc


def _architecture(settings: JanusSettings) -> tuple[Any, bool]:
    """The config to build: (config, is_local). Local folders and shipped architectures need no network."""
    from transformers import JanusConfig

    ckpt = source(settings)
    if Path(ckpt).is_dir():
        return JanusConfig.from_pretrained(ckpt), True
    if ckpt in ARCH_FILES:
        return JanusConfig.from_dict(json.loads((ARCH_DIR / ARCH_FILES[ckpt]).read_text())), False
    kwargs = _from_hub(settings, ckpt)
    try:
        return JanusConfig.from_pretrained(ckpt, **kwargs), False
    except (OSError, HFValidationError) as exc:
        raise _unavailable(ckpt, exc) from exc


def build_random(settings: JanusSettings, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """(model, processor) with the checkpoint's architecture and random weights, built on ``device``.

    On a CPU, a hub architecture (billions of parameters) is replaced by the tiny one, so
    ``unigame bench --model janus-pro-7b`` still runs there; a local folder's config is always honoured.
    """
    from transformers import JanusForConditionalGeneration

    config, is_local = _architecture(settings)
    if device.type == "cpu" and not is_local:
        log.warning("random weights on CPU: building the tiny Janus architecture instead of '%s' "
                    "(the real shapes need a GPU)", settings.checkpoint)
        tokenizer = build_tokenizer()
        config = tiny_config(tokenizer)
        processor = _generic_processor(config, tokenizer)
    else:
        try:
            processor = load_processor(settings, local_files_only=True)
        except DataError:
            log.info("no tokenizer/processor cached for '%s': using a generic one", settings.checkpoint)
            processor = _generic_processor(config)
    _match_tokens(config, processor.tokenizer)
    with torch.device(device):
        model = JanusForConditionalGeneration._from_config(
            config, dtype=dtype, attn_implementation=settings.attn_implementation
        )
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
