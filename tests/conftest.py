"""Shared fixtures: the example plugin installed into the test environment, the fake backend."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "unigame-plugin-example"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Install the example third-party plugin with pip, exactly as a user would."""
    if importlib.util.find_spec("unigame_example") is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(EXAMPLE)],
            check=True,
        )
        importlib.invalidate_caches()
    try:
        import torch

        torch.set_num_threads(min(2, torch.get_num_threads()))
    except ImportError:
        pass


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
