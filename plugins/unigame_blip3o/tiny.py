"""Tiny BLIP3-o checkpoints built offline, in the real on-disk layout, with random weights.

``write_tiny_checkpoint(path)`` writes what a hub snapshot of ``BLIP3o/BLIP3o-Model-8B`` holds, shrunk:

* the root: a Qwen2.5-VL ``save_pretrained`` folder whose ``config.json`` says ``model_type: blip3o_qwen``
  (plus ``n_query`` and the DiT shape under ``dit_config``), whose safetensors also hold the generation
  head (``model.dit.model.*``, ``model.latent_queries``), a word-level tokenizer with the Qwen special
  tokens and ``[IMG]``, a ChatML template and a ``Qwen2_5_VLProcessor``;
* ``diffusion-decoder/{unet,vae,scheduler}``: an SDXL-style ``UNet2DConditionModel`` (text_time
  conditioning on the features), an ``AutoencoderKL`` (both in the ``bf16`` variant, as on the hub)
  and an ``EulerDiscreteScheduler``;
* ``eva/``: the EVA tower's ``pytorch_model.bin`` (upstream key names) and its shape in ``config.json``
  (the real tower is a separate hub repo; see ``loading.py``).

The backend loads it through the very code path of a hub id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PAD, EOS, UNK = "<|endoftext|>", "<|im_end|>", "<unk>"
SPECIALS = [PAD, "<|im_start|>", EOS, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
            "[IMG]", "[/IMG]", "<image>", UNK]

# ChatML, as Qwen2.5-VL's own template renders a single-image turn (without its default-system branch)
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)

_BASE_WORDS = ("you are a helpful assistant what is this image yes no there how many color shape of the in "
               "user system please generate based on following caption").split()
_WORD = re.compile(r"\w+|[^\w\s]")


def vocabulary(words: Sequence[str] = ()) -> list[str]:
    seen: dict[str, None] = {}
    for text in (*"0123456789", *_BASE_WORDS, *".,:;?!'\"()-/*", *words):
        for piece in _WORD.findall(str(text).lower()):
            seen.setdefault(piece, None)
    return list(seen)


def build_tokenizer(words: Sequence[str] = ()) -> Any:
    """A word-level fast tokenizer with Qwen2.5-VL's special tokens (and BLIP3-o's ``[IMG]``)."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *vocabulary(words)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=True)])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIALS])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, unk_token=UNK,
                                   padding_side="left", model_max_length=4096)


def build_processor(tokenizer: Any, image_size: int, patch_size: int) -> Any:
    """Qwen2.5-VL's processor; ``min_pixels = max_pixels = image_size**2`` keeps square images at ``image_size``."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = image_size * image_size
    kwargs = dict(patch_size=patch_size, merge_size=2, temporal_patch_size=2,
                  size={"shortest_edge": pixels, "longest_edge": pixels})
    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(**kwargs), tokenizer=tokenizer,
                               video_processor=Qwen2VLVideoProcessor(**kwargs), chat_template=CHAT_TEMPLATE)


def tiny_qwen_config(tokenizer: Any, *, hidden: int, layers: int, vision_width: int, patch_size: int) -> Any:
    from transformers import Qwen2_5_VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    heads = max(1, hidden // 16)
    head_dim = hidden // heads
    text = dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                max_position_embeddings=2048, tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                 "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8]},
                pad_token_id=ids[PAD], eos_token_id=ids[EOS], bos_token_id=None)
    vision = dict(depth=1, hidden_size=vision_width, intermediate_size=2 * vision_width, num_heads=2,
                  out_hidden_size=hidden, patch_size=patch_size, spatial_merge_size=2, temporal_patch_size=2,
                  window_size=4 * patch_size, fullatt_block_indexes=[0])
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                            video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                            vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)


def write_tiny_checkpoint(path: str | Path, *, words: Sequence[str] = (), image_size: int = 16, patch_size: int = 4,
                          hidden: int = 64, layers: int = 1, feature_width: int = 32, queries: int = 16,
                          decoder_size: int = 16, seed: int = 0) -> Path:
    """Write a random tiny BLIP3-o checkpoint to ``path`` (see the module docstring); returns ``path``."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .dit import NOT_IN_CHECKPOINT, DitConfig, GenerationHead
    from .eva import EvaConfig, EvaVisionTower

    out = Path(path)
    tokenizer = build_tokenizer(words)
    config = tiny_qwen_config(tokenizer, hidden=hidden, layers=layers, vision_width=32, patch_size=patch_size)
    grid = int(round(queries**0.5))
    dit_config = DitConfig(channels=feature_width, hidden=32, heads=2, kv_heads=2, layers=1, grid=grid,
                           condition=hidden, multiple_of=16)
    eva_config = EvaConfig(image_size=image_size, patch_size=2, width=feature_width, layers=1, head_width=16,
                           mlp_width=2 * feature_width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).eval()
        head = GenerationHead(dit_config)
        queries_weight = torch.randn(1, queries, hidden) * 0.02
        eva = EvaVisionTower(eva_config)
        _randomise(eva)
        unet, vae, scheduler = _decoder(feature_width, decoder_size)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.guidance_scale = 3.0
    model.save_pretrained(out)
    build_processor(tokenizer, image_size, patch_size).save_pretrained(out)
    # the generation head goes into the same safetensors, under BLIP3-o's names
    weights_file = out / "model.safetensors"
    weights = load_file(weights_file)
    weights.update({f"model.dit.model.{k}": v.contiguous() for k, v in head.dit.state_dict().items()
                    if k not in NOT_IN_CHECKPOINT})  # as the official checkpoints: no diffusers-only pad_token
    weights.update({f"model.dit.model.caption_projection.{k}": v.contiguous()
                    for k, v in head.caption_projection.state_dict().items()})
    weights["model.latent_queries"] = queries_weight
    save_file(weights, weights_file, metadata={"format": "pt"})
    cfg = json.loads((out / "config.json").read_text())
    cfg.update(model_type="blip3o_qwen", n_query=queries, gen_pooling="early_pool2d_4",
               gen_vision_tower="eva-clip-E-14-plus", dit_config=dit_config.to_dict())
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    decoder = out / "diffusion-decoder"
    unet.save_pretrained(decoder / "unet", variant="bf16")
    vae.save_pretrained(decoder / "vae", variant="bf16")
    scheduler.save_pretrained(decoder / "scheduler")
    (out / "eva").mkdir(exist_ok=True)
    torch.save(eva.state_dict(), out / "eva" / "pytorch_model.bin")
    (out / "eva" / "config.json").write_text(json.dumps(eva_config.to_dict(), indent=2))
    return out


def _randomise(module: Any) -> None:
    """Give the EVA tower non-trivial CLS and position embeddings (zeros at construction)."""
    import torch

    with torch.no_grad():
        module.cls_token.normal_(0, 0.02)
        module.pos_embed.normal_(0, 0.02)


def _decoder(width: int, size: int) -> tuple[Any, Any, Any]:
    """A tiny SDXL-layout UNet conditioned on ``width``-wide features, a 2x VAE and SDXL's Euler scheduler."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel

    time_dim = 8
    unet = UNet2DConditionModel(
        sample_size=size // 2, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), norm_num_groups=8, cross_attention_dim=width, addition_embed_type="text_time",
        addition_time_embed_dim=time_dim, projection_class_embeddings_input_dim=width + 6 * time_dim,
        use_linear_projection=True)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 16),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        layers_per_block=1, norm_num_groups=8, sample_size=size, scaling_factor=0.13025)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       num_train_timesteps=1000, prediction_type="epsilon",
                                       timestep_spacing="leading", steps_offset=1)
    return unet.eval(), vae.eval(), scheduler
