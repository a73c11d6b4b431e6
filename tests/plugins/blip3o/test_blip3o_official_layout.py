"""What the official BLIP3-o files hold and the tiny writer used to hide (issue 30): a DiT without diffusers'
``pad_token``, a checkpoint folder without a processor config (the tokenizer and its ``[IMG]`` id still come from
the checkpoint), the decoder's raw negative prompt, and EVA weights stored as ``q_bias`` / ``v_bias``."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

WORDS = ["red", "green", "blue", "yellow", "square", "circle", "what", "color", "is", "the"]
FAST = {"decoder_steps": 3, "dit_steps": 2}  # as conftest.py


def test_a_dit_without_diffusers_pad_token_loads(tiny_dir: Path) -> None:
    """diffusers' LuminaNextDiT2DModel has a ``pad_token`` the official checkpoints lack: not required."""
    import json

    from unigame_blip3o.dit import DIT_PREFIX, DitConfig, GenerationHead

    config = DitConfig(**json.loads((tiny_dir / "config.json").read_text())["dit_config"])
    source = GenerationHead(config)
    weights = {f"{DIT_PREFIX}{k}": v for k, v in source.dit.state_dict().items() if k != "pad_token"}
    projection = source.caption_projection.state_dict()
    weights.update({f"{DIT_PREFIX}caption_projection.{k}": v for k, v in projection.items()})
    head = GenerationHead(config)
    head.load_checkpoint_weights(weights)
    assert torch.equal(head.dit.patch_embedder.proj.weight, weights[f"{DIT_PREFIX}patch_embedder.proj.weight"])


def test_the_tokenizer_and_its_img_token_come_from_the_checkpoint(tiny_dir: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """A snapshot without ``preprocessor_config.json``: the image processor comes from the Qwen repo, but the
    tokenizer (with BLIP3-o's ``[IMG]``) stays the checkpoint's."""
    from transformers import Qwen2_5_VLProcessor

    from unigame_blip3o import loading
    from unigame_blip3o.backend import Blip3oBackend
    from unigame_blip3o.tiny import build_processor, build_tokenizer

    folder = tmp_path / "no-processor"
    shutil.copytree(tiny_dir, folder)
    for name in ("preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json"):
        (folder / name).unlink(missing_ok=True)
    qwen = tmp_path / "qwen"
    plain = build_tokenizer(WORDS)
    plain_vocab = {t: i for t, i in plain.get_vocab().items() if t not in ("[IMG]", "[/IMG]")}
    from tokenizers import Tokenizer, models

    plain.backend_tokenizer.model = models.WordLevel(vocab=plain_vocab, unk_token="<unk>")
    build_processor(plain, 16, 4).save_pretrained(qwen)
    assert isinstance(Qwen2_5_VLProcessor.from_pretrained(qwen), Qwen2_5_VLProcessor)
    monkeypatch.setitem(loading.PROCESSORS, str(folder), str(qwen))
    backend = Blip3oBackend({"checkpoint": str(folder), **FAST})
    reference = Tokenizer.from_file(str(tiny_dir / "tokenizer.json"))
    assert backend.processor.tokenizer.convert_tokens_to_ids("[IMG]") == reference.token_to_id("[IMG]")


def test_the_decoders_negative_prompt_is_the_raw_string(backend) -> None:
    """The official pipeline encodes the negative caption " " as it is, not inside the chat template."""
    t2i = backend._t2i
    assert t2i.prompt_ids([" "], raw=True)[0] == backend.processor.tokenizer(" ", add_special_tokens=False)["input_ids"]
    assert t2i.negative_prompt == " " and t2i.negative_raw


def test_eva_weights_with_q_bias_and_v_bias_load(tiny_dir: Path, tmp_path: Path) -> None:
    """EVA-CLIP stores ``attn.q_bias`` / ``attn.v_bias`` (no k bias) instead of a fused ``qkv.bias``."""
    from unigame_blip3o.backend import Blip3oBackend

    state = torch.load(tiny_dir / "eva" / "pytorch_model.bin", weights_only=True)
    split = {}
    for key, value in state.items():
        if key.endswith("attn.qkv.bias"):
            q, _, v = value.chunk(3)
            split["visual." + key.replace("qkv.bias", "q_bias")] = q.clone()
            split["visual." + key.replace("qkv.bias", "v_bias")] = v.clone()
        else:
            split[f"visual.{key}"] = value
    eva = tmp_path / "eva"
    eva.mkdir()
    torch.save(split, eva / "pytorch_model.bin")
    shutil.copy(tiny_dir / "eva" / "config.json", eva / "config.json")
    backend = Blip3oBackend({"checkpoint": str(tiny_dir), "eva_checkpoint": str(eva), **FAST})
    bias = backend.eva.blocks[0].attn.qkv.bias
    q, k, v = bias.chunk(3)
    q0, _, v0 = state["blocks.0.attn.qkv.bias"].chunk(3)
    assert torch.equal(q, q0) and torch.equal(v, v0) and torch.equal(k, torch.zeros_like(k))
