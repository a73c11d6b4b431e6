"""Fixtures for the Janus backend tests: one tiny random Janus checkpoint per session, built offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unigame_janus.backend import JanusBackend
from unigame_janus.settings import JanusSettings
from unigame_janus.tiny import write_tiny_checkpoint

WORDS = ("red green blue circle square triangle left right of the one two three",)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Janus checkpoint folder (config, safetensors, tokenizer, processor): 16 px, 16 image tokens."""
    return write_tiny_checkpoint(
        tmp_path_factory.mktemp("janus") / "tiny-janus", words=WORDS, image_size=16, patch_size=4
    )


@pytest.fixture(scope="session")
def backend(tiny_ckpt: Path) -> JanusBackend:
    """A shared, read-only backend (tests that attach LoRA build their own)."""
    return JanusBackend(JanusSettings(checkpoint=str(tiny_ckpt)))


@pytest.fixture()
def fresh_backend(tiny_ckpt: Path) -> JanusBackend:
    return JanusBackend(JanusSettings(checkpoint=str(tiny_ckpt)))


@pytest.fixture()
def pixels(backend: JanusBackend) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 3, backend.image_size, backend.image_size, generator=g)


@pytest.fixture()
def qa() -> tuple[list[str], list[str]]:
    """Questions and answers of different lengths (so batches need padding)."""
    questions = [
        "what color is the circle?",
        "how many shapes are there?",
        "is the red square left of the blue circle?",
    ]
    answers = ["red", "two", "yes , it is left of the blue circle"]
    return questions, answers
