"""Running the tests must not leave the example plugin installed in the user's environment."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

import example_plugin_session as session


def _outside_view() -> str:
    """What a fresh interpreter of this environment (without the tests' PYTHONPATH) sees of the plugin."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import importlib.util, importlib.metadata as m;"
            "print(importlib.util.find_spec('unigame_example') is not None,"
            " any(d.metadata['Name'] == 'unigame-plugin-example' for d in m.distributions()))")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_example_plugin_is_visible_to_the_tests_but_not_installed_in_the_environment() -> None:
    names = {d.metadata["Name"] for d in importlib.metadata.distributions()}
    assert "unigame-plugin-example" in names  # this session sees it (through sys.path)
    assert _outside_view() == "False False"  # the environment itself does not


@pytest.mark.slow
def test_remove_takes_the_plugin_away(tmp_path: Path) -> None:
    site = session.install(tmp_path)
    assert (site / "unigame_example" / "plugin.py").exists()
    assert not (session.EXAMPLE / "build").exists()  # a copy was built, not the source tree
    saved = dict(session.state), os.environ.get("PYTHONPATH"), list(sys.path)
    try:
        session.state.update(dir=str(tmp_path), pythonpath=None)
        sys.path.insert(0, str(site))
        session.remove()
        assert str(site) not in sys.path and not tmp_path.exists()
        assert "PYTHONPATH" not in os.environ
    finally:
        session.state.update(saved[0])
        if saved[1] is not None:
            os.environ["PYTHONPATH"] = saved[1]
        sys.path[:] = saved[2]


def test_each_test_runs_in_an_empty_folder_of_its_own(_in_a_folder_of_its_own: Path) -> None:
    """The README runs `unigame train` (runs/unigame in the current folder) and then the tests in that folder."""
    assert Path.cwd() == _in_a_folder_of_its_own and list(Path.cwd().iterdir()) == []
    assert Path.cwd() != Path(__file__).resolve().parents[2]  # never the checkout



def test_ci_runs_the_readme_quickstart_in_its_order() -> None:
    """CI executes the README's two Quickstart commands as written: the main job, then the tests in the same folder
    (they once failed in that order: a test met the overwrite guard on the runs/unigame the main job had written)."""
    repo = Path(__file__).resolve().parents[2]
    commands = subprocess.run(["bash", str(repo / ".ci" / "quickstart")], capture_output=True, text=True,
                              check=True).stdout.splitlines()
    assert len(commands) == 2
    assert commands[0].endswith("unigame train") and commands[1].endswith("python -m pytest -q")
    ci = (repo / ".ci" / "run").read_text()
    assert "bash .ci/quickstart" in ci and "pytest" not in ci.replace("python -m pytest", "")
    assert 'git status --porcelain --untracked-files=all' in ci
