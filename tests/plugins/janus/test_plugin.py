"""Registration, model aliases, settings and the light import of the Janus plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from unigame_core import plugins
from unigame_core.config import alias_defaults, resolve_model, validate_component
from unigame_core.errors import ConfigError
from unigame_core.hf import coerce_settings
from unigame_janus import plugin as janus_plugin
from unigame_janus.settings import JANUS_PRO_1B, JANUS_PRO_7B, JanusSettings


@pytest.fixture()
def janus_registered() -> Iterator[None]:
    """The janus plugin, from its entry point when installed, else registered in-process."""
    if "janus" in plugins.backends():
        yield
        return
    plugins.register_plugin(janus_plugin, "janus-test")
    try:
        yield
    finally:
        plugins.unregister_plugin("janus-test")


def test_plugin_module_does_not_import_torch() -> None:
    code = "import sys, unigame_janus.plugin; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_aliases_resolve_to_checkpoints(janus_registered: None) -> None:
    registry = plugins.backends()
    entry, alias = registry.resolve("janus-pro-7b")
    assert entry.name == "janus" and entry.config is JanusSettings
    assert alias is not None and alias.file == "unigame_core.configs:models/janus-pro-7b.yaml"
    assert alias_defaults(alias) == {"backend": {"checkpoint": JANUS_PRO_7B}}
    assert alias_defaults(registry.resolve("janus-pro-1b")[1]) == {"backend": {"checkpoint": JANUS_PRO_1B}}
    assert entry.builder == "unigame_janus.backend:JanusBackend"
    from unigame_janus.backend import JanusBackend

    assert entry.load() is JanusBackend


def test_local_folder_resolves_by_model_type(janus_registered: None, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "janus"}))
    assert resolve_model(str(tmp_path), plugins.backends()) == (  # with the gate Janus declares
        "janus", {"gate": {"name": "clip"}, "backend": {"checkpoint": str(tmp_path)}})


def test_models_list_shows_aliases(janus_registered: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from unigame_core.cli.main import app

    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "janus-pro-1b" in result.output and "janus-pro-7b" in result.output
    assert JANUS_PRO_7B in result.output


def test_settings_validate_and_coerce(janus_registered: None) -> None:
    node = validate_component({"name": "janus", "checkpoint": "/ckpt", "straight_through": True},
                              plugins.backends(), "backend")
    settings = coerce_settings(node, JanusSettings)
    assert settings == JanusSettings(checkpoint="/ckpt", straight_through=True)
    with pytest.raises(ConfigError, match="backend.max_new_token"):
        validate_component({"name": "janus", "max_new_token": 3}, plugins.backends(), "backend")
    with pytest.raises(ConfigError, match="backend.bogus"):
        coerce_settings(OmegaConf.create({"name": "janus", "bogus": 1}), JanusSettings)
