"""Tiny Emu3 checkpoints built offline: a word-level tokenizer, a processor and a random model.

The result is an ordinary ``save_pretrained`` folder in the Emu3 format (``model_type: emu3``), loaded
by :class:`~unigame_emu3.backend.Emu3Backend` through the very code path of a hub checkpoint. It keeps
every structural feature the backend relies on: the special and visual tokens of the Emu3 tokenizer
(``<|visual token 000123|>``, the row terminator ``<|extra_200|>``...), a MoVQ with the real spatial
factor 8 and temporal factor 4, BatchNorm layers with non-trivial running statistics, and a chat
template in the llava-1.5 style the converted Emu3 checkpoints use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import Emu3Config, Emu3Processor, PreTrainedTokenizerFast

# The special tokens of the converted Emu3 tokenizers (same strings, so prompts read the same).
BOS = "<|extra_203|>"
EOS = "<|extra_204|>"
PAD = "<|endoftext|>"
UNK = "<unk>"
EOL = "<|extra_200|>"  # ends every row of visual tokens
IMAGE_TOKENS = {
    "image_token": "<image>",  # placeholder the processor expands
    "boi_token": "<|image start|>",
    "eoi_token": "<|image end|>",
    "image_wrapper_token": "<|image token|>",
    "eof_token": "<|extra_201|>",
}

# llava-1.5 style, like the converted Emu3-Chat template: "{system} USER: <image>{question} ASSISTANT: {answer}"
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] != 'system' -%}{{ message['role'].upper() + ': ' }}{%- endif -%}"
    "{%- for part in message['content'] | selectattr('type', 'equalto', 'image') -%}{{ '<image>' }}{%- endfor -%}"
    "{%- for part in message['content'] | selectattr('type', 'equalto', 'text') -%}"
    "{{ part['text'] + ' ' }}"
    "{%- endfor -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)

_BASE_WORDS = (
    "you are a helpful assistant what is this image yes no there how many color shape of the in "
    "user assistant system"
).split()
_PUNCTUATION = tuple(".,:;?!'\"()-/*")
_WORD = re.compile(r"\w+|[^\w\s]")


def visual_token(code: int) -> str:
    """The tokenizer string of codebook entry ``code`` (the 6 digits the model's vocabulary map parses)."""
    return f"<|visual token {code:06d}|>"


def vocabulary(words: Sequence[str] = ()) -> list[str]:
    """Plain vocabulary: digits, base words, punctuation and ``words`` (split, lower-cased), deduplicated."""
    seen: dict[str, None] = {}
    for text in (*"0123456789", *_BASE_WORDS, *_PUNCTUATION, *words):
        for piece in _WORD.findall(str(text).lower()):
            seen.setdefault(piece, None)
    return list(seen)


def build_tokenizer(codebook_size: int, words: Sequence[str] = (), *,
                    visual_special: bool = True) -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer with Emu3's special, image, row-terminator and visual tokens.

    ``visual_special=False`` keeps the visual tokens as plain vocabulary entries (in ``get_vocab()``, which is
    all the model's vocabulary map reads; text never spells them): a 32768-code tokenizer builds in a fraction
    of the time."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, BOS, EOS, UNK, EOL, *IMAGE_TOKENS.values()]
    visual = [visual_token(i) for i in range(codebook_size)]
    vocab = {tok: i for i, tok in enumerate([*specials, *visual, *vocabulary(words)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True)
                            for t in [*specials, *(visual if visual_special else ())]])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        extra_special_tokens=dict(IMAGE_TOKENS), padding_side="left", model_max_length=4096,
    )


def build_processor(tokenizer: PreTrainedTokenizerFast, image_size: int) -> Emu3Processor:
    """Emu3's processor; ``min_pixels = max_pixels = image_size**2`` so every square image maps to ``image_size``."""
    from transformers import Emu3ImageProcessor, Emu3Processor

    pixels = image_size * image_size
    image_processor = Emu3ImageProcessor(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], min_pixels=pixels,
                                         max_pixels=pixels, spatial_factor=8)
    return Emu3Processor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def tiny_config(
    tokenizer: PreTrainedTokenizerFast,
    *,
    codebook: int = 64,
    hidden: int = 64,
    layers: int = 2,
    vq_channels: int = 32,
) -> Emu3Config:
    """A small Emu3 architecture: MoVQ with spatial factor 8 (the processor's fixed ratio) and temporal factor 4."""
    from transformers import Emu3Config

    if vq_channels % 32:
        raise ValueError(f"vq_channels {vq_channels} must be a multiple of 32 (the MoVQ uses GroupNorm(32)).")
    heads = max(1, hidden // 16)
    text = dict(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, attention_dropout=0.1,  # Emu3's: off in eval mode
    )
    # four levels (spatial factor 2**3 = 8), widening once: the tiny MoVQ then holds every weight name of Emu3's
    # (its nin_shortcut convs included; tests/plugins/emu3/official/)
    multipliers = [1, 1, 2, 2]
    vq = dict(
        codebook_size=codebook, embed_dim=4, latent_channels=4, base_channels=vq_channels,
        channel_multiplier=multipliers, num_res_blocks=1, attn_resolutions=[3], temporal_downsample_factor=4,
        hidden_size=vq_channels * multipliers[-1], num_attention_heads=1,
    )
    return Emu3Config(text_config=text, vq_config=vq, vocabulary_map=dict(tokenizer.get_vocab()))


def write_tiny_checkpoint(
    path: str | Path,
    *,
    words: Sequence[str] = (),
    image_size: int = 24,
    codebook: int = 64,
    hidden: int = 64,
    layers: int = 2,
    vq_channels: int = 32,
    seed: int = 0,
) -> Path:
    """Write a random tiny Emu3 checkpoint (config, safetensors, tokenizer, processor) to ``path``."""
    import torch
    from transformers import Emu3ForConditionalGeneration

    if image_size % 8:
        raise ValueError(f"image_size {image_size} must be a multiple of 8 (the MoVQ's spatial factor).")
    out = Path(path)
    tokenizer = build_tokenizer(codebook, words)
    config = tiny_config(tokenizer, codebook=codebook, hidden=hidden, layers=layers, vq_channels=vq_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Emu3ForConditionalGeneration(config).eval()
        _calibrate(model.model.vqmodel, image_size)
    gen = model.generation_config
    gen.pad_token_id, gen.bos_token_id = tokenizer.pad_token_id, tokenizer.bos_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    build_processor(tokenizer, image_size).save_pretrained(out)
    return out


def _calibrate(vqmodel: Any, image_size: int) -> None:
    """Make the random MoVQ behave like a trained one where the backend cares.

    * BatchNorm running statistics are made non-trivial, so train-mode BatchNorm would visibly differ
      from eval mode (the backend must keep the tokenizer's BatchNorm in eval mode).
    * ``quant_conv`` is rescaled so encoder latents have the codebook's scale (tokens spread over the
      codebook instead of all snapping to the largest code), and the decoder's ``conv_out`` so decoded
      pixels land mostly inside ``[-1, 1]`` (a saturated clamp would block every gradient).
    """
    import torch

    for module in vqmodel.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_(0.0, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    with torch.no_grad():
        x = torch.rand(4, 3, image_size, image_size) * 2 - 1
        latents = vqmodel.encode(x, torch.tensor([[image_size, image_size]] * 4), return_dict=True)
        hidden = vqmodel.quant_conv(latents.last_hidden_state.permute(0, 2, 1, 3, 4))
        scale = vqmodel.quantize.embedding.weight.std() / hidden.std().clamp_min(1e-6)
        vqmodel.quant_conv.conv.weight.mul_(scale)
        vqmodel.quant_conv.conv.bias.mul_(scale)
        codes = torch.randint(0, vqmodel.config.codebook_size, (4, image_size // 8, image_size // 8))
        pixels = vqmodel.decode(codes)
        shrink = 0.6 / pixels.std().clamp_min(1e-6)
        vqmodel.decoder.conv_out.weight.mul_(shrink)
        vqmodel.decoder.conv_out.bias.mul_(shrink)
