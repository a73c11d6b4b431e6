"""A tiny Emu3 checkpoint written once per session, loaded by path like a hub checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

try:
    import unigame_emu3  # noqa: F401
except ModuleNotFoundError:  # an editable install made before the package existed does not map it yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "plugins"))

WORDS = ["red", "green", "blue", "yellow", "square", "circle", "what", "color", "is", "the"]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unigame_emu3.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("emu3") / "tiny-emu3", words=WORDS)


@pytest.fixture(scope="session")
def backend(tiny_dir: Path):
    """One shared backend (tests must leave it as they found it: eval mode, no LoRA)."""
    from unigame_emu3.backend import Emu3Backend

    return Emu3Backend({"checkpoint": str(tiny_dir)})


@pytest.fixture
def fresh_backend(tiny_dir: Path):
    """A backend of its own (for tests that attach LoRA or change settings)."""
    from unigame_emu3.backend import Emu3Backend

    def make(**settings):
        return Emu3Backend({"checkpoint": str(tiny_dir), **settings})

    return make


@pytest.fixture
def images():
    """Two uint8 images and their [0, 1] pixels (S = 24: a 3 x 3 token grid)."""
    import torch

    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (2, 3, 24, 24), dtype=torch.uint8, generator=g)
    return raw, raw.float() / 255.0


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread: the tiny model's ops are microseconds, and on a shared 2-core machine
    thread hand-offs (not arithmetic) dominated the run time (measured: 20 training steps ~15x faster)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
