"""Checkpoint fidelity (issue 30 item 7): the weight names of the official Emu3 -hf files (``official/``, with how
they were obtained: ``text_model.model.*``, ``text_model.lm_head.weight``, ``vqmodel.*``, not the class's own
``model.text_model.*``) against what the tiny writer writes, what the loader takes, and what the shipped
architecture builds. A name the official files lack or add fails here."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from unigame_core.testing import key_patterns, saved_keys
from unigame_emu3.loading import ARCH_DIR, _with_vocabulary, generic_processor

OFFICIAL = json.loads((Path(__file__).parent / "official" / "emu3-chat-keys.json").read_text())


def test_the_tiny_writer_writes_the_official_names(tiny_dir: Path) -> None:
    """Every name of the official files, and no other, at the tiny checkpoint's depth (indices as ``*``)."""
    with safe_open(str(tiny_dir / "model.safetensors"), framework="pt") as f:
        written = set(f.keys())
    assert key_patterns(written) == key_patterns(OFFICIAL["keys"])
    assert "text_model.lm_head.weight" in written and not any(k.startswith("model.") for k in written)


def test_the_loader_takes_every_official_name(tiny_dir: Path) -> None:
    """The class the backend loads with maps each name of such a file onto its own and misses none."""
    from transformers import Emu3ForConditionalGeneration

    _, info = Emu3ForConditionalGeneration.from_pretrained(tiny_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]


def test_the_shipped_architecture_has_the_official_names_and_shapes() -> None:
    """At real size (built on ``meta``): every official name with its shape, the 184622-row vocabulary included."""
    from transformers import Emu3ForConditionalGeneration

    values = json.loads((ARCH_DIR / "emu3-chat.json").read_text())
    config = _with_vocabulary(values, generic_processor(int(values["vq_config"]["codebook_size"])).tokenizer)
    with torch.device("meta"):
        model = Emu3ForConditionalGeneration._from_config(config)
    built = {k: v for k, v in saved_keys(model).items() if k not in OFFICIAL["exceptions"]}
    assert built == OFFICIAL["keys"]
