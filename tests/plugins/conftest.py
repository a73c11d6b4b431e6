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


def greedy_answer_ids(backend, pixels: torch.Tensor, questions: Sequence[str],  # noqa: ANN001
                      max_new_tokens: int) -> list[list[int]]:
    """The answer token ids ``backend.understander.generate`` decodes, one list per question, each cut after
    its first EOS (a batched row is padded after it finishes; a row generated alone stops there). Read by
    wrapping the tokenizer's ``batch_decode``, through which every Hugging Face backend turns ids into text."""
    tokenizer = backend.understander.prompts.tokenizer
    eos, seen = backend.understander.prompts.eos_id, []
    original = tokenizer.batch_decode

    def record(ids, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(torch.as_tensor(ids).tolist())
        return original(ids, *args, **kwargs)

    tokenizer.batch_decode = record
    try:
        backend.understander.generate(pixels, list(questions), max_new_tokens=max_new_tokens)
    finally:
        del tokenizer.batch_decode  # the instance attribute; the class's method shows again
    (rows,) = seen
    return [row[: row.index(eos) + 1] if eos in row else row for row in rows]


def assert_batched_answers_equal_single(backend, pixels: torch.Tensor, questions: Sequence[str],  # noqa: ANN001
                                        max_new_tokens: int = 6) -> None:
    """Batched greedy answers (left padding, KV cache) are token for token the answers generated one at a time."""
    assert len({len(q) for q in questions}) == len(questions), "questions of different lengths: rows need padding"
    batched = greedy_answer_ids(backend, pixels, questions, max_new_tokens)
    alone = [greedy_answer_ids(backend, pixels[i:i + 1], [q], max_new_tokens)[0] for i, q in enumerate(questions)]
    assert all(row for row in batched), batched
    assert batched == alone


@pytest.fixture
def batched_equals_single() -> Callable[..., None]:
    """``batched_equals_single(backend, pixels, questions)``: see ``assert_batched_answers_equal_single``."""
    return assert_batched_answers_equal_single
