"""Shared fixtures: the example plugin visible to this test session only, the fake backend.

The example third-party plugin is installed with pip, as a user would, but into a temporary
``--target`` folder that only this session sees (``sys.path`` here, ``PYTHONPATH`` for the CLI
subprocesses): ``importlib.metadata`` finds its entry point there. The folder is removed at the end,
so running the tests never leaves a plugin in the user's environment.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "unigame-plugin-example"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_session: dict[str, str | None] = {"dir": None, "pythonpath": None}


def install_example_plugin(work: Path) -> Path:
    """pip-install a copy of the example plugin into ``work/site`` (the source tree stays free of build files)."""
    source = work / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-compile", "--target", str(site), str(source)], check=True)
    return site


def pytest_sessionstart(session: pytest.Session) -> None:
    """Expose the example plugin to this session (and its subprocesses) only."""
    work = Path(tempfile.mkdtemp(prefix="unigame-tests-plugin-"))
    site = install_example_plugin(work)
    _session["dir"], _session["pythonpath"] = str(work), os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), _session["pythonpath"]) if p)
    importlib.invalidate_caches()
    try:
        import torch

        torch.set_num_threads(min(2, torch.get_num_threads()))
    except ImportError:
        pass


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Take the example plugin away again: off sys.path and PYTHONPATH, its folder deleted."""
    work = _session["dir"]
    if work is None:
        return
    site = str(Path(work) / "site")
    sys.path[:] = [p for p in sys.path if p != site]
    if _session["pythonpath"] is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = _session["pythonpath"]
    for name in [m for m in sys.modules if m == "unigame_example" or m.startswith("unigame_example.")]:
        del sys.modules[name]
    shutil.rmtree(work, ignore_errors=True)
    importlib.invalidate_caches()
    _session["dir"] = None


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
