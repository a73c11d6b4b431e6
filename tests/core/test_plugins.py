from __future__ import annotations

import types
from importlib.metadata import EntryPoint

import pytest

from unigame_core import hookimpl, plugins
from unigame_core.errors import PluginError


def test_builtin_and_example_plugins_are_discovered_through_entry_points() -> None:
    infos = {i.name: i for i in plugins.plugin_infos()}
    for name in ("core", "janus", "example"):
        assert infos[name].status == "loaded", infos[name]
    assert infos["example"].module == "unigame_example.plugin"
    assert "example-janus" in plugins.backends()
    assert "example-colours" in plugins.suites().names()


def test_blocking_a_plugin_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIGAME_DISABLE_PLUGINS", "example, nothing")
    plugins.reset()
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["example"].status == "blocked"
    assert "example-janus" not in plugins.backends()
    assert "janus-pro-7b" in plugins.backends()  # the others still load


def test_broken_plugin_is_reported_and_does_not_break_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    import unigame_core.plugins as mod

    real = mod.entry_points

    def with_broken(group: str):  # noqa: ANN202
        broken = EntryPoint(name="broken", value="unigame_no_such_module.plugin", group=group)
        return [*real(group=group), broken]

    monkeypatch.setattr(mod, "entry_points", with_broken)
    plugins.reset()
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["broken"].status == "broken"
    assert "No module named 'unigame_no_such_module'" in infos["broken"].error
    assert "janus" in plugins.backends()
    with pytest.raises(PluginError, match="broken"):
        plugins.require_plugin("broken")


def test_in_process_plugin_registers_and_unregisters() -> None:
    module = types.ModuleType("inline_plugin")

    @hookimpl
    def unigame_register_schedules(schedules):  # noqa: ANN001, ANN202
        schedules.add("inline", "json:dumps", help="inline")

    module.unigame_register_schedules = unigame_register_schedules  # type: ignore[attr-defined]
    plugins.register_plugin(module, "inline")
    try:
        entry = plugins.schedules().get("inline")
        assert entry.plugin == "inline"
    finally:
        plugins.unregister_plugin("inline")
    assert "inline" not in plugins.schedules()


def test_a_hook_that_raises_names_its_plugin() -> None:
    module = types.ModuleType("raising_plugin")

    @hookimpl
    def unigame_register_buffers(buffers):  # noqa: ANN001, ANN202
        raise RuntimeError("boom")

    module.unigame_register_buffers = unigame_register_buffers  # type: ignore[attr-defined]
    plugins.register_plugin(module, "raising")
    try:
        with pytest.raises(PluginError, match="Plugin 'raising' failed while registering buffers: boom"):
            plugins.buffers()
    finally:
        plugins.unregister_plugin("raising")


def test_every_hook_registers_into_its_registry() -> None:
    import typer
    from typer.testing import CliRunner

    module = types.ModuleType("all_hooks")
    hello = typer.Typer()

    @hello.command()
    def hi() -> None:
        typer.echo("hello from a plugin command")

    module.hello_app = hello  # type: ignore[attr-defined]

    @hookimpl
    def unigame_register_backends(backends):  # noqa: ANN001, ANN202
        backends.add("allhooks-backend", "unigame_core.testing:FakeBackend")

    @hookimpl
    def unigame_register_suites(suites):  # noqa: ANN001, ANN202
        suites.add("allhooks-suite", "unigame_example.suite:ColourSuite")

    @hookimpl
    def unigame_register_validators(validators):  # noqa: ANN001, ANN202
        validators.add("allhooks-gate", "unigame_core.game.gates:NoGate")

    @hookimpl
    def unigame_register_buffers(buffers):  # noqa: ANN001, ANN202
        buffers.add("allhooks-buffer", "unigame_core.game.buffer:HardBuffer")

    @hookimpl
    def unigame_register_schedules(schedules):  # noqa: ANN001, ANN202
        schedules.add("allhooks-schedule", "unigame_core.game.schedule:AlternatingSchedule")

    @hookimpl
    def unigame_register_datasets(datasets):  # noqa: ANN001, ANN202
        datasets.add("allhooks-data", "unigame_core.testing:fake_dataset")

    @hookimpl
    def unigame_register_commands(commands):  # noqa: ANN001, ANN202
        commands.add("allhooks-cmd", "all_hooks:hello_app", help="says hello")

    for name, fn in list(locals().items()):
        if name.startswith("unigame_register_"):
            setattr(module, name, fn)
    import sys

    sys.modules["all_hooks"] = module
    plugins.register_plugin(module, "allhooks")
    try:
        assert plugins.backends().get("allhooks-backend").plugin == "allhooks"
        assert plugins.suites().get("allhooks-suite").load().__name__ == "ColourSuite"
        assert plugins.validators().get("allhooks-gate").load().__name__ == "NoGate"
        assert plugins.buffers().get("allhooks-buffer").load().__name__ == "HardBuffer"
        assert plugins.schedules().get("allhooks-schedule").load().__name__ == "AlternatingSchedule"
        assert len(plugins.datasets().get("allhooks-data").load()("5")) == 5
        app = plugins.commands().get("allhooks-cmd").load()
        assert "hello from a plugin command" in CliRunner().invoke(app, []).output
    finally:
        plugins.unregister_plugin("allhooks")
        del sys.modules["all_hooks"]
