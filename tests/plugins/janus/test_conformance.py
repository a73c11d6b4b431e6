"""The Janus backend passes the conformance check plugin authors run (tiny checkpoint, and the shipped shapes base)."""

from __future__ import annotations

import pytest

from unigame_core.testing import check_backend
from unigame_janus.backend import JanusBackend
from unigame_janus.settings import JanusSettings
from unigame_shapes import assets


@pytest.mark.slow
def test_tiny_janus_meets_the_backend_contract(fresh_backend: JanusBackend) -> None:
    check_backend(fresh_backend, questions=["what color is the circle?", "is the red square left of the blue circle?"],
                  answers=["red", "yes , it is left of the blue circle"])
    assert not any("lora_" in n for n, _ in fresh_backend.model.named_parameters())  # the check removed its LoRA


@pytest.mark.slow
def test_the_shipped_shapes_tiny_base_meets_the_backend_contract() -> None:
    check_backend(JanusBackend(JanusSettings(checkpoint=str(assets.JANUS_DIR), max_new_tokens=3)))
