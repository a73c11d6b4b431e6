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


def test_the_shapes_plugin_declares_it_needs_the_evals_janus_and_clip_plugins() -> None:
    import unigame_shapes.plugin

    assert unigame_shapes.plugin.requires_plugins == ("evals", "janus", "clip")
    assert {i.name: i.status for i in plugins.plugin_infos()}["shapes"] == "loaded"


def test_every_built_in_plugin_declares_the_plugins_it_imports() -> None:
    """Scan each built-in plugin package for imports of another plugin's package (lazy ones too): each must be
    in its ``requires_plugins``, so disabling the other plugin unregisters this one instead of breaking it."""
    import ast
    import importlib
    import tomllib

    root = Path(__file__).resolve().parents[2]
    entry_points = tomllib.loads((root / "pyproject.toml").read_text())["project"]["entry-points"]["unigame"]
    package_of = {name: target.split(":")[0].split(".")[0] for name, target in entry_points.items() if name != "core"}
    name_of = {package: name for name, package in package_of.items()}
    undeclared = {}
    for name, package in package_of.items():
        imported: set[str] = set()
        for path in (root / "plugins" / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    imported.add(node.module.split(".")[0])
        needed = {name_of[p] for p in imported if p in name_of and p != package}
        declared = set(getattr(importlib.import_module(entry_points[name].split(":")[0]), "requires_plugins", ()))
        if needed - declared:
            undeclared[name] = sorted(needed - declared)
    assert len(package_of) == 7 and undeclared == {}  # janus, shapes, evals, clip, emu3, blip3o, robustness


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


@pytest.mark.slow
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


def test_disabling_janus_unregisters_shapes_so_no_error_offers_shapes_tiny(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UNIGAME_DISABLE_PLUGINS", "janus")
    plugins.reset()
    try:
        infos = {i.name: i for i in plugins.plugin_infos()}
        assert (infos["janus"].status, infos["shapes"].status) == ("blocked", "broken")
        assert "needs plugin 'janus'" in (infos["shapes"].error or "")
        result = CliRunner().invoke(app, ["train", "train.steps=1"])
        assert result.exit_code == 2 and "shapes-tiny" not in result.output.replace("'shapes'", "")
    finally:
        monkeypatch.delenv("UNIGAME_DISABLE_PLUGINS")
        plugins.reset()
