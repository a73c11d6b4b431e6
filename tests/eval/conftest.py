"""Fixtures for the evaluation core: the fake backends as in-test plugins, official-layout data, a
private answer cache, and one torch thread (the test machines are small and shared)."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch

import unigame_core.testing
from unigame_core import plugins
from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry
from unigame_core.testing import FakeBackend, script_answers
from unigame_evals.fixtures import write_mmmu, write_pope, write_vqav2


class FakeGeneratingBackend(FakeBackend):
    """The fake UMM plus a text-to-image branch (seeded noise), for the consistency suite."""

    capabilities = property(lambda self: frozenset({"text_to_image"}))

    def generate_images(self, prompts: Sequence[str], *, guidance_scale: float = 5.0, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.rand(len(prompts), 3, self.image_size, self.image_size, generator=g)


# The registry imports builders by "module:attr": expose the class under a module name of its own.
BACKENDS_MODULE = types.ModuleType("unigame_eval_test_backends")
BACKENDS_MODULE.FakeGeneratingBackend = FakeGeneratingBackend  # type: ignore[attr-defined]
sys.modules[BACKENDS_MODULE.__name__] = BACKENDS_MODULE


@hookimpl
def _register_generating(backends: Registry) -> None:
    backends.add("fake-gen", "unigame_eval_test_backends:FakeGeneratingBackend",
                 config=unigame_core.testing.FakeSettings, help="fake UMM with text-to-image")


GENERATING_PLUGIN = types.SimpleNamespace(unigame_register_backends=_register_generating)


@pytest.fixture
def script() -> Callable[[FakeBackend, Callable[[str], str]], list[tuple[int, int]]]:
    """``script(backend, answer)`` makes the backend answer ``answer(question)`` and records its calls."""
    return script_answers


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def eval_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private answer cache folder per test."""
    folder = tmp_path / "answer-cache"
    monkeypatch.setenv("UNIGAME_EVAL_CACHE", str(folder))
    return folder


@pytest.fixture
def fake_plugins() -> Iterator[None]:
    """``fake-tiny`` and ``fake-gen`` registered in-process, unregistered afterwards."""
    plugins.register_plugin(unigame_core.testing, "fake")
    plugins.register_plugin(GENERATING_PLUGIN, "fake-gen")
    try:
        yield
    finally:
        plugins.unregister_plugin("fake-gen")
        plugins.unregister_plugin("fake")


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<root>/{vqav2,pope,mmmu}`` in the official layouts (6 VQAv2 questions, 3x6 POPE, 6 MMMU rows)."""
    root = tmp_path_factory.mktemp("eval-data")
    write_vqav2(root / "vqav2", n=6)
    write_pope(root / "pope", n=6)
    write_mmmu(root / "mmmu", n=6)
    return root
