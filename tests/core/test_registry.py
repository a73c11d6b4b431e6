from __future__ import annotations

import pytest

from unigame_core.errors import PluginError, UnknownNameError
from unigame_core.registry import Registry, load_attr


def test_add_resolve_and_alias_defaults() -> None:
    reg: Registry = Registry("backend")
    reg.current_plugin = "p1"
    reg.add("janus", "json:dumps", help="h")
    reg.alias("janus-pro-7b", "janus", defaults={"backend": {"checkpoint": "org/7B"}})
    entry, alias = reg.resolve("janus-pro-7b")
    assert entry.name == "janus" and entry.plugin == "p1"
    assert alias is not None and alias.defaults == {"backend": {"checkpoint": "org/7B"}}
    assert entry.load().__name__ == "dumps"
    assert "janus-pro-7b" in reg and "nope" not in reg


def test_duplicate_names_fail_loudly_naming_both_plugins() -> None:
    reg: Registry = Registry("suite")
    reg.current_plugin = "first"
    reg.add("vqav2", "json:dumps")
    reg.current_plugin = "second"
    with pytest.raises(PluginError, match="'second' registers suite 'vqav2'.*'first' already"):
        reg.add("vqav2", "json:loads")
    with pytest.raises(PluginError):
        reg.alias("vqav2", "vqav2")


def test_unknown_name_suggests_the_closest_and_lists_choices() -> None:
    reg: Registry = Registry("backend")
    reg.add("janus", "json:dumps")
    reg.alias("janus-pro-7b", "janus")
    with pytest.raises(UnknownNameError) as err:
        reg.get("jnus-pro-7b")
    assert "Did you mean 'janus-pro-7b'?" in str(err.value)
    assert "Choices: janus, janus-pro-7b" in str(err.value)


def test_only_one_default_model() -> None:
    reg: Registry = Registry("backend")
    reg.add("b", "json:dumps")
    reg.current_plugin = "a"
    reg.alias("one", "b", default=True)
    reg.current_plugin = "z"
    with pytest.raises(PluginError, match="already marked 'one'"):
        reg.alias("two", "b", default=True)


def test_load_attr_requires_module_colon_attr() -> None:
    with pytest.raises(PluginError):
        load_attr("json.dumps")
    assert load_attr("os.path:join")("a", "b").endswith("b")
