"""The example plugin, installed for one test session only (used by conftest.py and its own test).

pip installs a copy of ``examples/unigame-plugin-example`` into a temporary ``--target`` folder that
only this session sees: ``sys.path`` here, ``PYTHONPATH`` for the CLI subprocesses (``importlib.metadata``
finds its entry point there). :func:`remove` takes it away again, so the tests never change the
user's environment.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unigame-plugin-example"

state: dict[str, str | None] = {"dir": None, "pythonpath": None}


def install(work: Path) -> Path:
    """pip-install a copy of the example plugin into ``work/site`` (the source tree stays free of build files)."""
    source = work / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-compile", "--target", str(site), str(source)], check=True)
    return site


def expose() -> None:
    """Install into a fresh temporary folder and make it visible to this process and its children."""
    work = Path(tempfile.mkdtemp(prefix="unigame-tests-plugin-"))
    site = install(work)
    state["dir"], state["pythonpath"] = str(work), os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), state["pythonpath"]) if p)
    importlib.invalidate_caches()


def remove() -> None:
    """Off sys.path and PYTHONPATH, its modules forgotten, its folder deleted."""
    work = state["dir"]
    if work is None:
        return
    site = str(Path(work) / "site")
    sys.path[:] = [p for p in sys.path if p != site]
    if state["pythonpath"] is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = state["pythonpath"]
    for name in [m for m in sys.modules if m == "unigame_example" or m.startswith("unigame_example.")]:
        del sys.modules[name]
    shutil.rmtree(work, ignore_errors=True)
    importlib.invalidate_caches()
    state["dir"] = None
