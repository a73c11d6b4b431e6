"""Fixtures for the suite tests: a scripted fake backend, a generating one, a private answer cache and
one torch thread (the test machines are small and shared)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch

from unigame_core.testing import FakeBackend


class FakeGeneratingBackend(FakeBackend):
    """The fake UMM plus a text-to-image branch (seeded noise), for the consistency suite."""

    capabilities = property(lambda self: frozenset({"text_to_image"}))

    def generate_images(self, prompts: Sequence[str], *, guidance_scale: float = 5.0, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.rand(len(prompts), 3, self.image_size, self.image_size, generator=g)


def _script(backend: FakeBackend, answer: Callable[[str], str]) -> list[tuple[int, int]]:
    """Make ``backend`` answer ``answer(question)``; returns the (batch size, max_new_tokens) of each call."""
    calls: list[tuple[int, int]] = []

    def generate(pixels: torch.Tensor, questions: Sequence[str], max_new_tokens: int = 16) -> list[str]:
        assert pixels.shape[1:] == (3, backend.image_size, backend.image_size)
        calls.append((len(questions), max_new_tokens))
        return [answer(q) for q in questions]

    backend.understander.generate = generate  # type: ignore[method-assign]
    return calls


@pytest.fixture
def script() -> Callable[[FakeBackend, Callable[[str], str]], list[tuple[int, int]]]:
    """``script(backend, answer)`` makes the backend answer ``answer(question)`` and records its calls."""
    return _script


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _no_answer_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIGAME_EVAL_CACHE", "off")


@pytest.fixture
def generating_backend() -> FakeGeneratingBackend:
    return FakeGeneratingBackend()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def tmp_data(tmp_path: Path) -> Path:
    return tmp_path / "data"
