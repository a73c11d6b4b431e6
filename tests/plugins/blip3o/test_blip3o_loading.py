"""The tiny checkpoint in BLIP3-o's layout loads through the hub path; weights land where they belong."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from unigame_core.config import build_config
from unigame_core.errors import ConfigError, DataError


def test_tiny_checkpoint_has_the_real_layout(tiny_dir):
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["model_type"] == "blip3o_qwen" and config["n_query"] == 16
    keys = load_file(tiny_dir / "model.safetensors").keys()
    assert "model.latent_queries" in keys and any(k.startswith("model.dit.model.caption_projection.") for k in keys)
    for part in ("unet/diffusion_pytorch_model.bf16.safetensors", "vae/diffusion_pytorch_model.bf16.safetensors",
                 "scheduler/scheduler_config.json"):
        assert (tiny_dir / "diffusion-decoder" / part).exists()
    assert (tiny_dir / "eva" / "pytorch_model.bin").exists()


def test_folder_resolves_to_the_blip3o_backend_with_round_trip_hardness(tiny_dir):
    cfg = build_config(str(tiny_dir))
    assert cfg.backend.name == "blip3o" and cfg.backend.checkpoint == str(tiny_dir)
    assert cfg.game.hardness_reference == "round_trip"


def test_every_part_holds_the_checkpoint_weights(backend, tiny_dir):
    weights = load_file(tiny_dir / "model.safetensors")
    head = backend.head
    projection = weights["model.dit.model.caption_projection.linear_1.weight"]
    assert torch.equal(head.caption_projection.linear_1.weight, projection)
    assert torch.equal(head.dit.layers[0].attn1.to_q.weight, weights["model.dit.model.layers.0.attn1.to_q.weight"])
    assert torch.equal(backend.latent_queries, weights["model.latent_queries"])
    eva = torch.load(tiny_dir / "eva" / "pytorch_model.bin", weights_only=True)
    assert torch.equal(backend.eva.blocks[0].attn.qkv.bias, eva["blocks.0.attn.qkv.bias"])
    assert backend.image_size == 16 and backend.settings.decoder_size == 16  # from the processor and the UNet
    assert backend.encoder.token_shape == (16, 32)
    frozen = [backend.model, backend.eva, backend.unet, backend.vae, backend.head]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    assert not any(m.training for m in frozen)


def test_dit_with_a_foreign_ffn_width_is_refused(tiny_dir, tmp_path):
    from unigame_blip3o.backend import Blip3oBackend

    copy = shutil.copytree(tiny_dir, tmp_path / "ckpt")
    weights = load_file(copy / "model.safetensors")
    key = "model.dit.model.layers.0.feed_forward.linear_1.weight"
    weights[key] = torch.zeros(7 * weights[key].shape[1], weights[key].shape[1])  # BLIP3-o's copy: 4 x dim, unscaled
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ConfigError, match="feed_forward.linear_1.weight.*native"):
        Blip3oBackend({"checkpoint": str(copy)})


class _Payload:
    def __reduce__(self):  # what a malicious pickle does: call a function while loading
        return (print, ("pickled code ran",))


def test_eva_weights_that_need_code_to_unpickle_are_refused(tiny_dir, tmp_path):
    from unigame_blip3o import loading
    from unigame_blip3o.settings import Blip3oSettings

    eva = tmp_path / "eva"
    eva.mkdir()
    shutil.copy(tiny_dir / "eva" / "config.json", eva / "config.json")
    with open(eva / "pytorch_model.bin", "wb") as f:
        pickle.dump({"patch_embed.proj.weight": _Payload()}, f)
    settings = Blip3oSettings(checkpoint=str(tiny_dir), eva_checkpoint=str(eva))
    with pytest.raises(DataError, match="weights_only|Cannot read the EVA tower"):
        loading.load_eva(settings, torch.device("cpu"), torch.float32)


def test_a_hub_id_missing_from_an_offline_cache_is_one_clear_error(tmp_path):
    from unigame_blip3o.backend import Blip3oBackend

    with pytest.raises(DataError) as info:
        Blip3oBackend({"checkpoint": "BLIP3o/BLIP3o-Model-8B", "local_files_only": True, "cache_dir": str(tmp_path)})
    assert info.value.message == ("BLIP3-o checkpoint 'BLIP3o/BLIP3o-Model-8B' is not in the local cache and "
                                  "local_files_only is set.")
    assert "hf download BLIP3o/BLIP3o-Model-8B" in info.value.hint


def test_invalid_settings_name_the_key():
    from unigame_blip3o.settings import Blip3oSettings
    from unigame_core.hf import coerce_settings

    with pytest.raises(ConfigError, match="backend.decoder_grad"):
        coerce_settings({"decoder_grad": "full"}, Blip3oSettings)
    with pytest.raises(ConfigError, match="backend.decoder_stepz"):
        coerce_settings({"decoder_stepz": 3}, Blip3oSettings)


def test_the_tiny_stand_in_of_a_hub_id_is_built_on_request_and_labelled():
    from unigame_blip3o.backend import Blip3oBackend

    backend = Blip3oBackend({"checkpoint": "BLIP3o/BLIP3o-Model-8B", "tiny": True, "decoder_steps": 2})
    assert backend.stand_in == ("TINY STAND-IN for 'BLIP3o/BLIP3o-Model-8B' (random weights, not the real "
                                "architecture)")
    pixels = torch.rand(1, 3, backend.image_size, backend.image_size)
    loss = backend.understander.answer_loss(backend.understander.embed_images(pixels), ["what color?"], ["red"])
    assert loss.shape == (1,) and torch.isfinite(loss).all()
    assert backend.decoder.decode(backend.encoder.encode(pixels)).shape == pixels.shape
