from __future__ import annotations

import pytest

from unigame_core.errors import PluginError, UnknownNameError
from unigame_core.registry import (BackendInfo, BackendRegistry, CommandRegistry, DatasetRegistry, LoggerInfo,
                                   LoggerRegistry, Registry, SuiteRegistry, load_attr)


def test_add_resolve_and_alias_defaults() -> None:
    reg = Registry("backend")
    reg.current_plugin = "p1"
    reg.add("janus", "json:dumps", help="h")
    reg.alias("janus-pro-7b", "janus", defaults={"backend": {"checkpoint": "org/7B"}})
    entry, alias = reg.resolve("janus-pro-7b")
    assert entry.name == "janus" and entry.plugin == "p1"
    assert alias is not None and alias.defaults == {"backend": {"checkpoint": "org/7B"}}
    assert entry.load().__name__ == "dumps"
    assert "janus-pro-7b" in reg and "nope" not in reg


def test_a_duplicate_fails_only_when_resolved_naming_both_plugins_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNIGAME_DISABLE_PLUGINS", "old")
    reg = SuiteRegistry("suite")
    reg.current_plugin = "first"
    reg.add("vqav2", "json:dumps")
    reg.add("pope", "json:dumps")
    reg.current_plugin = "second"
    reg.add("vqav2", "json:loads")  # no error yet: the other names keep working
    reg.alias("vqa", "vqav2")
    assert reg.get("pope").plugin == "first"
    assert reg.clashes() == {"vqav2": ["first", "second"]}
    for name in ("vqav2", "vqa"):  # the name itself, and an alias pointing at it
        with pytest.raises(PluginError) as err:
            reg.get(name)
        assert str(err.value) == (
            "The suite 'vqav2' is registered by plugins 'first' and 'second'. Keep one: set "
            "UNIGAME_DISABLE_PLUGINS=old,first or UNIGAME_DISABLE_PLUGINS=old,second (or uninstall one of them)."
        )


def test_a_clash_with_core_never_suggests_blocking_core() -> None:
    reg = Registry("buffer")
    reg.current_plugin = "core"
    reg.add("hard", "json:dumps")
    reg.current_plugin = "mine"
    reg.add("hard", "json:loads")
    with pytest.raises(PluginError, match="'core' and 'mine'. Keep one: set UNIGAME_DISABLE_PLUGINS=mine \\(or"):
        reg.get("hard")


def test_unknown_name_suggests_the_closest_and_lists_choices() -> None:
    reg = Registry("backend")
    reg.add("janus", "json:dumps")
    reg.alias("janus-pro-7b", "janus")
    with pytest.raises(UnknownNameError) as err:
        reg.get("jnus-pro-7b")
    assert "Did you mean 'janus-pro-7b'?" in str(err.value)
    assert "Choices: janus, janus-pro-7b" in str(err.value)
    assert "did not load" not in str(err.value)  # every plugin loaded: nothing to say


def test_unknown_name_says_when_its_plugin_is_blocked_or_broken() -> None:
    reg = Registry("backend")
    reg.add("janus", "json:dumps")
    reg.unloaded = {"emu3": "blocked by UNIGAME_DISABLE_PLUGINS", "evals": "broken (ImportError: no lm_eval)"}
    with pytest.raises(UnknownNameError) as err:
        reg.get("emu3-chat")
    assert str(err.value).startswith(
        "Unknown backend 'emu3-chat'. Its plugin did not load: plugin 'emu3' is blocked by UNIGAME_DISABLE_PLUGINS.")
    with pytest.raises(UnknownNameError) as err:  # no plugin's name matches: every unloaded one is named
        reg.get("vqav2")
    assert ("It may come from a plugin that did not load: plugin 'emu3' is blocked by UNIGAME_DISABLE_PLUGINS; "
            "plugin 'evals' is broken (ImportError: no lm_eval).") in str(err.value)


def test_two_default_models_fail_only_when_the_default_is_needed() -> None:
    reg = Registry("backend")
    reg.add("b", "json:dumps")
    reg.current_plugin = "a"
    reg.alias("one", "b", default=True)
    reg.current_plugin = "z"
    reg.alias("two", "b", default=True)
    assert reg.get("one").name == "b" and reg.get("two").name == "b"
    with pytest.raises(PluginError, match="default backend: 'one' \\(plugin 'a'\\) and 'two' \\(plugin 'z'\\).*"
                                          "UNIGAME_DISABLE_PLUGINS=a or UNIGAME_DISABLE_PLUGINS=z"):
        reg.default_alias()


def test_add_is_typed_per_kind() -> None:
    backends = BackendRegistry("backend")
    backends.add("b", "json:dumps", model_types=("bt",), defaults={"train": {"steps": 2}})
    assert backends.get("b").extra == BackendInfo(("bt",), {"train": {"steps": 2}}, "")
    with pytest.raises(TypeError, match="model_type"):
        backends.add("c", "json:dumps", model_type="bt")  # type: ignore[call-arg]  # a typo fails at once
    suites = SuiteRegistry("suite")
    suites.add("s", "json:dumps", requires=("text_to_image",))
    assert suites.get("s").extra.requires == ("text_to_image",)
    with pytest.raises(TypeError, match="unexpected keyword argument 'model_types'"):
        suites.add("t", "json:dumps", model_types=("x",))  # type: ignore[call-arg]  # a backend's keyword
    loggers = LoggerRegistry("logger")
    loggers.add("l", "json:dumps", requires=("wandb",), install="wandb")
    assert loggers.get("l").extra == LoggerInfo(("wandb",), "wandb")


def test_load_checks_the_kinds_contract_naming_the_plugin() -> None:
    backends = BackendRegistry("backend")
    backends.current_plugin = "mine"
    backends.add("good", "unigame_core.testing:FakeBackend")
    backends.add("settings", "unigame_core.testing:FakeSettings")
    backends.add("missing", "unigame_no_such_module:Backend")
    assert backends.get("good").load().__name__ == "FakeBackend"
    with pytest.raises(PluginError) as err:
        backends.get("settings").load()
    assert str(err.value) == ("Plugin 'mine' registers backend 'settings' as 'unigame_core.testing:FakeSettings', "
                              "which is not a subclass of unigame_core.interfaces.Backend.")
    with pytest.raises(PluginError, match="'missing' as 'unigame_no_such_module:Backend', which cannot be imported: "
                                          "ModuleNotFoundError"):
        backends.get("missing").load()
    datasets, commands = DatasetRegistry("dataset"), CommandRegistry("command")
    datasets.add("constant", "math:pi")
    commands.add("func", "json:dumps")
    with pytest.raises(PluginError, match="which is not a callable"):
        datasets.get("constant").load()
    with pytest.raises(PluginError, match="which is not an instance of typer.Typer"):
        commands.get("func").load()


def test_load_attr_requires_module_colon_attr() -> None:
    with pytest.raises(PluginError, match="'json.dumps' is not of the form 'module:attr'"):
        load_attr("json.dumps")
    assert load_attr("os.path:join")("a", "b").endswith("b")
