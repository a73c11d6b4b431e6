"""A tiny BLIP3-o checkpoint written once per session, loaded by path like a hub checkpoint."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

try:
    import unigame_blip3o  # noqa: F401
except ModuleNotFoundError:  # an editable install made before the package existed does not map it yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "plugins"))

try:
    import diffusers  # noqa: F401
except ModuleNotFoundError:  # the test extras install it: in CI a missing diffusers is a failure, not a skip
    if os.environ.get("CI"):
        raise
    pytest.skip("the BLIP3-o backend needs diffusers (pip install 'unigame[blip3o]')", allow_module_level=True)

WORDS = ["red", "green", "blue", "yellow", "square", "circle", "what", "color", "is", "the"]
#: few sampler steps keep every decode in milliseconds on the tiny model
FAST = {"decoder_steps": 3, "dit_steps": 2}


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unigame_blip3o.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("blip3o") / "tiny-blip3o", words=WORDS)


@pytest.fixture(scope="session")
def backend(tiny_dir: Path):
    """One shared backend (tests must leave it as they found it: eval mode, no LoRA, its settings)."""
    from unigame_blip3o.backend import Blip3oBackend

    return Blip3oBackend({"checkpoint": str(tiny_dir), **FAST})


@pytest.fixture
def fresh_backend(tiny_dir: Path):
    """A backend of its own (for tests that attach LoRA or change settings)."""
    from unigame_blip3o.backend import Blip3oBackend

    def make(**settings):
        return Blip3oBackend({"checkpoint": str(tiny_dir), **FAST, **settings})

    return make


@pytest.fixture
def images():
    """Two uint8 images and their [0, 1] pixels (S = 16: a 4 x 4 patch grid, 4 merged image tokens)."""
    import torch

    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8, generator=g)
    return raw, raw.float() / 255.0


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread: the tiny model's ops are microseconds; thread hand-offs would dominate."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
