"""Tiny Janus checkpoints built offline: a word-level tokenizer, a processor and a random model.

The result is an ordinary ``save_pretrained`` folder in the Janus format, loaded by
:class:`~unigame_janus.backend.JanusBackend` through the very code path of a hub checkpoint. Tests use
it, and the shapes-world plugin builds its embedded default model with it (``words`` = its vocabulary).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import JanusConfig, JanusProcessor, PreTrainedTokenizerFast

# The special tokens of the Janus-Pro tokenizers (same strings, so prompts read the same).
BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
PAD = "<｜▁pad▁｜>"
UNK = "<unk>"
IMAGE_TOKENS = {"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>", "eoi_token": "<end_of_image>"}
ROLE_TOKENS = ("<|User|>", "<|Assistant|>")

# Janus' chat layout, written for the tiny checkpoints; renders like the converted Janus-Pro template
# for user turns holding images and text, and assistant turns holding text.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- set role = message['role'] | lower -%}"
    "{%- if role == 'user' -%}{{ '<|User|>: ' }}"
    "{%- elif role == 'assistant' -%}{{ '<|Assistant|>:' }}"
    "{%- if message['content'] and message['content'][0]['text'] -%}{{ ' ' }}{%- endif -%}"
    "{%- else -%}{{ role | capitalize ~ ': ' }}{%- endif -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}"
    "{%- if not loop.first -%}{{ '\\n' }}{%- endif -%}{{ '<image_placeholder>' }}"
    "{%- if not loop.last -%}{{ '\\n' }}{%- endif -%}"
    "{%- else -%}{{ part['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if not loop.last or add_generation_prompt -%}"
    "{%- if role == 'user' -%}{{ '\\n\\n' }}{%- else -%}{{ '" + EOS + "' }}{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|Assistant|>:' }}{%- endif -%}"
)

_BASE_WORDS = (
    "you are a helpful language and vision assistant able to understand the visual content that user provides "
    "assist with variety of tasks using natural what is this image yes no there how many color shape"
).split()
_PUNCTUATION = tuple(".,:;?!'\"()-/")
_WORD = re.compile(r"\w+|[^\w\s]")


def vocabulary(words: Sequence[str] = ()) -> list[str]:
    """Plain (non-special) vocabulary: base words + punctuation + ``words`` (split, lower-cased), deduplicated."""
    seen: dict[str, None] = {}
    for text in (*_BASE_WORDS, *_PUNCTUATION, *words):
        for piece in _WORD.findall(str(text).lower()):
            seen.setdefault(piece, None)
    return list(seen)


def build_tokenizer(words: Sequence[str] = ()) -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer with Janus' special, image and chat-role tokens (adds BOS like Janus')."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = [BOS, EOS, PAD, UNK, *IMAGE_TOKENS.values()]
    vocab = {tok: i for i, tok in enumerate([*specials, *ROLE_TOKENS, *vocabulary(words)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in ROLE_TOKENS])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        extra_special_tokens=dict(IMAGE_TOKENS), padding_side="left", model_max_length=4096,
    )


def build_processor(tokenizer: PreTrainedTokenizerFast, image_size: int, num_image_tokens: int) -> JanusProcessor:
    """Janus' processor (image processor at ``image_size``, chat template, default system prompt on)."""
    from transformers import JanusImageProcessor, JanusProcessor

    image_processor = JanusImageProcessor(size={"height": image_size, "width": image_size},
                                          image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    return JanusProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
                          use_default_system_prompt=True, num_image_tokens=num_image_tokens)


def tiny_config(
    tokenizer: PreTrainedTokenizerFast,
    *,
    image_size: int = 32,
    patch_size: int = 8,
    hidden: int = 64,
    layers: int = 2,
    vq_channels: int = 32,
    codebook: int = 64,
) -> JanusConfig:
    """A small Janus architecture whose VQ token grid equals SigLIP's patch grid (Janus' invariant)."""
    from transformers import JanusConfig

    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}.")
    levels = patch_size.bit_length()  # VQ downsampling 2**(levels-1) must equal patch_size
    if 2 ** (levels - 1) != patch_size:
        raise ValueError(f"patch_size {patch_size} must be a power of two (it is the VQ downsampling factor).")
    if vq_channels % 32:
        raise ValueError(f"vq_channels {vq_channels} must be a multiple of 32 (the VQ uses GroupNorm(32)).")
    heads = max(1, hidden // 16)
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in
           (("pad", PAD), ("bos", BOS), ("eos", EOS), ("image", IMAGE_TOKENS["image_token"]))}
    text: dict[str, Any] = dict(
        model_type="llama", vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=1024,
        rms_norm_eps=1e-6, pad_token_id=ids["pad"], bos_token_id=ids["bos"], eos_token_id=ids["eos"],
        tie_word_embeddings=False,
    )
    vision = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, image_size=image_size,
                  patch_size=patch_size, mlp_ratio=2.0, projection_dim=hidden, depth=2,
                  num_image_tokens=(image_size // patch_size) ** 2)
    multipliers = [min(2 ** (i // 2), 2) for i in range(levels)]  # e.g. [1, 1, 2, 2] for patch 8
    vq = dict(embed_dim=8, num_embeddings=codebook, latent_channels=vq_channels, base_channels=vq_channels,
              channel_multiplier=multipliers, num_res_blocks=1, projection_dim=hidden, image_token_embed_dim=hidden,
              num_hidden_layers=2)
    return JanusConfig(text_config=text, vision_config=vision, vq_config=vq, image_token_id=ids["image"],
                       tie_word_embeddings=False)


def write_tiny_checkpoint(
    path: str | Path,
    *,
    words: Sequence[str] = (),
    image_size: int = 32,
    patch_size: int = 8,
    hidden: int = 64,
    layers: int = 2,
    vq_channels: int = 32,
    codebook: int = 64,
    seed: int = 0,
) -> Path:
    """Write a random tiny Janus checkpoint (config, safetensors, tokenizer, processor) to ``path``."""
    import torch
    from transformers import JanusForConditionalGeneration

    out = Path(path)
    tokenizer = build_tokenizer(words)
    config = tiny_config(tokenizer, image_size=image_size, patch_size=patch_size, hidden=hidden, layers=layers,
                         vq_channels=vq_channels, codebook=codebook)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = JanusForConditionalGeneration(config).eval()
    set_generation_defaults(model, tokenizer)
    model.save_pretrained(out)
    build_processor(tokenizer, image_size, config.vision_config.num_image_tokens).save_pretrained(out)
    return out


def set_generation_defaults(model: Any, tokenizer: PreTrainedTokenizerFast) -> None:
    """The generation settings converted Janus checkpoints ship (pad, BOI for CFG, guidance 5)."""
    gen = model.generation_config
    gen.pad_token_id = tokenizer.pad_token_id
    gen.bos_token_id = tokenizer.bos_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.generation_kwargs = {"boi_token_id": tokenizer.convert_tokens_to_ids(IMAGE_TOKENS["boi_token"])}
    gen.guidance_scale = 5
    gen.temperature = 1.0
    gen._from_model_config = False  # keep the custom entries when saved
