"""Checkpoint fidelity (issue 30 item 7): the weight names of the official Janus-Pro files (``official/``, with how
they were obtained) against what the tiny writer writes, what the loader takes, and what the shipped architecture
builds. A name the official files lack or add fails here."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from unigame_core.testing import key_patterns, saved_keys
from unigame_janus.loading import _architecture
from unigame_janus.settings import JANUS_PRO_1B, JanusSettings

OFFICIAL = json.loads((Path(__file__).parent / "official" / "janus-pro-1b-keys.json").read_text())


def _file_keys(folder: Path) -> set[str]:
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        return set(f.keys())


def test_the_tiny_writer_writes_the_official_names(tiny_ckpt: Path) -> None:
    """Every name of the official files, and no other, at the tiny checkpoint's depth (indices as ``*``)."""
    assert key_patterns(_file_keys(tiny_ckpt)) == key_patterns(OFFICIAL["keys"])


def test_the_loader_takes_every_official_name(tiny_ckpt: Path) -> None:
    """The class the backend loads with reads each name of such a file and misses none of its own."""
    from transformers import JanusForConditionalGeneration

    _, info = JanusForConditionalGeneration.from_pretrained(tiny_ckpt, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]


def test_the_shipped_architecture_has_the_official_names_and_shapes() -> None:
    """At real size (built on ``meta``): every official name with its shape; a config change that moves a shape
    away from the published checkpoint fails here."""
    from transformers import JanusForConditionalGeneration

    config = _architecture(JanusSettings(checkpoint=JANUS_PRO_1B))
    with torch.device("meta"):
        model = JanusForConditionalGeneration._from_config(config)
    built = {k: v for k, v in saved_keys(model).items() if k not in OFFICIAL["exceptions"]}
    assert built == OFFICIAL["keys"]
