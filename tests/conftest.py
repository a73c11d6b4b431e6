"""Shared fixtures: the example plugin visible to this test session only, the fake backend.

The example third-party plugin is installed with pip, as a user would, but into a temporary folder
only this session sees, removed at the end (``example_plugin_session``): running the tests never leaves
a plugin in the user's environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import example_plugin_session

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Expose the example plugin to this session (and its subprocesses) only."""
    example_plugin_session.expose()
    try:
        import torch

        torch.set_num_threads(min(2, torch.get_num_threads()))
    except ImportError:
        pass


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Take the example plugin away again."""
    example_plugin_session.remove()


@pytest.fixture(autouse=True)
def _in_a_folder_of_its_own(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in an empty temporary folder: a user who ran the README's `unigame train` (which writes
    runs/unigame in the current folder) and then the tests in the same folder sees neither disturb the other."""
    here = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(here)
    return here


@pytest.fixture(autouse=True)
def _fresh_plugins() -> Iterator[None]:
    from unigame_core import plugins

    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture
def fake_plugin() -> Iterator[None]:
    """Register the pure-torch fake backend and data source in-process (try/finally)."""
    from unigame_core import plugins, testing

    plugins.register_plugin(testing, "fake")
    try:
        yield
    finally:
        plugins.unregister_plugin("fake")


@pytest.fixture
def empty_hub_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network and an empty hub cache: whatever is built comes from the shipped files."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Online mode, but the hub (``HF_ENDPOINT``) is the loopback discard port: nothing answers there."""
    import torch

    from unigame_core import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    hub._probed.clear()
    with torch.random.fork_rng():  # a failed run seeded torch: later tests keep their own random state
        yield
    hub._probed.clear()
