"""The "Testing a plugin" recipe of docs/plugins.md, followed with the example plugin installed as a user would
(pip, by conftest): registering a plugin its entry point already registered raised pluggy's raw ValueError."""

from __future__ import annotations

import types

import pytest

from unigame_core import plugins
from unigame_core.config import build_config
from unigame_core.errors import PluginError


def test_the_recipe_works_for_an_installed_plugin(fake_plugin: None) -> None:
    import unigame_example.plugin

    from unigame_core.testing import FakeBackend, FakeSettings

    plugins.register_plugin(unigame_example.plugin, "example")  # the recipe's line; installed: already registered
    try:
        cfg = build_config("example-janus", None, ["train.device=cpu"])
        assert cfg.backend.checkpoint == "example-org/Example-Janus" and cfg.train.batch_size == 4
        suite = plugins.suites().get("example-colours")
        result = suite.load()(suite.config(n=3, size=16), None).evaluate(FakeBackend(FakeSettings()), limit=None,
                                                                          batch_size=3)
        assert result.n == 3 and len(result.predictions) == 3 and 0.0 <= result.metrics["accuracy"] <= 100.0
    finally:
        plugins.unregister_plugin("example")
    assert "example-colours" in plugins.suites()  # its entry point's registration outlives the test's


def test_the_same_module_under_another_name_is_tolerated_too() -> None:
    import unigame_example.plugin

    plugins.register_plugin(unigame_example.plugin, "my-example")
    try:
        assert "example-janus" in plugins.backends()
    finally:
        plugins.unregister_plugin("my-example")
    assert "example-janus" in plugins.backends()


def test_another_module_under_a_taken_name_is_one_sentence() -> None:
    other = types.ModuleType("other_plugin")
    with pytest.raises(PluginError, match="The plugin name 'example' is taken by 'unigame_example.plugin'"):
        plugins.register_plugin(other, "example")
