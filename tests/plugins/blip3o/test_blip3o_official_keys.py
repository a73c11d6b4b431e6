"""Checkpoint fidelity (issue 30 item 7): the weight names of the official BLIP3-o files (``official/``, with how
they were obtained: transformers-4.51 Qwen2.5-VL names ``visual.*`` / ``model.*`` / ``lm_head.weight``, the DiT under
``model.dit.model.*`` and ``model.latent_queries``) against what the tiny writer writes, what the loading path takes,
and what the shipped architectures build. A name the official files lack or add fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from unigame_blip3o.architecture import shipped
from unigame_blip3o.dit import DIT_PREFIX, NOT_IN_CHECKPOINT, QUERIES_KEY, DitConfig, GenerationHead
from unigame_blip3o.settings import BLIP3O_4B, BLIP3O_8B
from unigame_core.testing import key_patterns, saved_keys

OFFICIAL = {alias: json.loads((Path(__file__).parent / "official" / f"{alias}-keys.json").read_text())
            for alias in ("blip3o-8b", "blip3o-4b")}


def _file_keys(folder: Path) -> set[str]:
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        return set(f.keys())


def test_the_tiny_writer_writes_the_official_names(tiny_dir: Path) -> None:
    """Every name of the official 8B files, and no other, at the tiny checkpoint's depth (indices as ``*``)."""
    assert key_patterns(_file_keys(tiny_dir)) == key_patterns(OFFICIAL["blip3o-8b"]["keys"])


def test_the_loading_path_takes_every_official_name(tiny_dir: Path) -> None:
    """Qwen2.5-VL's loader takes every name but the generation head's; the head's loader takes exactly those."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from unigame_blip3o.loading import read_config
    from unigame_blip3o.settings import Blip3oSettings

    config, raw = read_config(Blip3oSettings(checkpoint=str(tiny_dir)))
    _, info = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_dir, config=config, output_loading_info=True)
    head_keys = {k for k in _file_keys(tiny_dir) if k.startswith(DIT_PREFIX) or k == QUERIES_KEY}
    unexpected = {k.replace("model.language_model.", "model.", 1) for k in info["unexpected_keys"]}  # its own names
    assert not info["missing_keys"] and not info["mismatched_keys"] and unexpected == head_keys
    with safe_open(str(tiny_dir / "model.safetensors"), framework="pt") as f:
        weights = {k: f.get_tensor(k) for k in head_keys}
    GenerationHead(DitConfig(**raw["dit_config"])).load_checkpoint_weights(weights)  # raises on any other name


@pytest.mark.parametrize("alias,checkpoint", [("blip3o-8b", BLIP3O_8B), ("blip3o-4b", BLIP3O_4B)])
def test_the_shipped_architecture_has_the_official_names_and_shapes(alias: str, checkpoint: str) -> None:
    """At real size (built on ``meta``): every official name with its shape."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    raw = shipped(checkpoint)["config.json"]
    config = Qwen2_5_VLConfig.from_dict({k: v for k, v in raw.items() if k not in ("model_type", "architectures")})
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config)
        head = GenerationHead(DitConfig(condition=config.text_config.hidden_size))
    built = saved_keys(model)
    built.update({f"{DIT_PREFIX}{k}": list(v.shape) for k, v in head.dit.state_dict().items()})
    built.update({f"{DIT_PREFIX}caption_projection.{k}": list(v.shape)
                  for k, v in head.caption_projection.state_dict().items()})
    built[QUERIES_KEY] = [1, int(raw["n_query"]), config.text_config.hidden_size]
    exceptions = OFFICIAL[alias]["exceptions"]
    assert {f"{DIT_PREFIX}{k}" for k in NOT_IN_CHECKPOINT} <= set(exceptions)
    assert {k: v for k, v in built.items() if k not in exceptions} == OFFICIAL[alias]["keys"]
