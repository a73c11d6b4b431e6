"""Fixtures for the suite tests of every plugin (evals, shapes): a scripted fake backend, a generating
one, and ``suite_env`` (no answer cache, one torch thread: the test machines are small and shared)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch

from unigame_core.testing import FakeBackend, script_answers


class FakeGeneratingBackend(FakeBackend):
    """The fake UMM plus a text-to-image branch (seeded noise), for the consistency suite."""

    capabilities = property(lambda self: frozenset({"text_to_image"}))

    def generate_images(
        self, prompts: Sequence[str], *, guidance_scale: float | None = None, seed: int = 0
    ) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.rand(len(prompts), 3, self.image_size, self.image_size, generator=g)


@pytest.fixture
def script() -> Callable[[FakeBackend, Callable[[str], str]], list[tuple[int, int]]]:
    """``script(backend, answer)`` makes the backend answer ``answer(question)`` and records its calls."""
    return script_answers


@pytest.fixture
def suite_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No answer cache and one torch thread for the duration of a suite test."""
    monkeypatch.setenv("UNIGAME_EVAL_CACHE", "off")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def generating_backend() -> FakeGeneratingBackend:
    return FakeGeneratingBackend()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def tmp_data(tmp_path: Path) -> Path:
    return tmp_path / "data"
