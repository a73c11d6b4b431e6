"""Declared plugin dependencies (``requires_plugins``): a plugin whose needed plugin is blocked, broken or
not installed is not registered, and a command that needs what it registers stops with one sentence."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unigame_core import hookimpl, plugins
from unigame_core.cli.main import app
from unigame_core.errors import PluginError

BLOCKED = ("Plugin 'shapes' needs plugin 'evals', which UNIGAME_DISABLE_PLUGINS blocks: remove 'evals' from "
           "UNIGAME_DISABLE_PLUGINS, or add 'shapes' to UNIGAME_DISABLE_PLUGINS.")


def test_the_shapes_plugin_declares_it_needs_the_evals_plugin() -> None:
    import unigame_shapes.plugin

    assert unigame_shapes.plugin.requires_plugins == ("evals",)
    assert {i.name: i.status for i in plugins.plugin_infos()}["shapes"] == "loaded"


@pytest.mark.parametrize("command", [["models", "list"], ["suites", "list"], ["config", "show"],
                                     ["train", "train.steps=1"], ["eval", "--suite", "shapes"]])
def test_blocking_a_needed_plugin_is_one_sentence_and_exit_2(command: list[str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UNIGAME_DISABLE_PLUGINS", "evals")
    plugins.reset()
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == f"error: {BLOCKED}"


def test_plugins_list_says_why_and_blocking_both_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIGAME_DISABLE_PLUGINS", "evals")
    plugins.reset()
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert (infos["evals"].status, infos["shapes"].status, infos["shapes"].error) == ("blocked", "broken", BLOCKED)
    assert "clip" in plugins.validators().names()  # a kind the shapes plugin does not register still works
    monkeypatch.setenv("UNIGAME_DISABLE_PLUGINS", "evals,shapes")
    plugins.reset()
    assert "shapes-tiny" not in plugins.backends() and "janus-pro-7b" in plugins.backends()
    assert plugins.suites().names() == ["attack-decoder", "attack-pgd", "example-colours"]  # robustness, example


def test_the_real_command_line_exits_2() -> None:
    env = {**os.environ, "UNIGAME_DISABLE_PLUGINS": "evals", "COLUMNS": "400"}
    done = subprocess.run([sys.executable, "-m", "unigame_core.cli.main", "models", "list"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"error: {BLOCKED}" in " ".join(done.stderr.split()) and "Traceback" not in done.stderr


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, *extra: EntryPoint) -> None:
    real = plugins.entry_points
    monkeypatch.setattr(plugins, "entry_points", lambda group: [*real(group=group), *extra])
    plugins.reset()


@hookimpl
def _register_needy_schedule(schedules):  # noqa: ANN001, ANN202
    schedules.add("needy", "json:dumps")


NEEDY = types.ModuleType("unigame_test_needy")
NEEDY.requires_plugins = ("nowhere",)  # type: ignore[attr-defined]
NEEDY.unigame_register_schedules = _register_needy_schedule  # type: ignore[attr-defined]
NEEDS_NEEDY = types.ModuleType("unigame_test_needs_needy")
NEEDS_NEEDY.requires_plugins = ("needy",)  # type: ignore[attr-defined]
NEEDS_NEEDY.unigame_register_schedules = _register_needy_schedule  # type: ignore[attr-defined]


def test_a_missing_dependency_breaks_only_what_the_plugin_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, NEEDY.__name__, NEEDY)
    monkeypatch.setitem(sys.modules, NEEDS_NEEDY.__name__, NEEDS_NEEDY)
    _with_entry_points(monkeypatch, EntryPoint("needy", NEEDY.__name__, "unigame"),
                       EntryPoint("zneeds", NEEDS_NEEDY.__name__, "unigame"))
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["needy"].error == ("Plugin 'needy' needs plugin 'nowhere', which is not installed: install the "
                                    "package that provides 'nowhere', or add 'needy' to UNIGAME_DISABLE_PLUGINS.")
    assert infos["zneeds"].status == "broken" and infos["zneeds"].error.startswith(
        "Plugin 'zneeds' needs plugin 'needy', which is broken (Plugin 'needy' needs plugin 'nowhere'")
    assert "janus-pro-7b" in plugins.backends()  # neither registers backends
    with pytest.raises(PluginError, match="Plugin 'needy' needs plugin 'nowhere'"):
        plugins.schedules()
