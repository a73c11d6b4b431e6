from __future__ import annotations

import logging
import sys
import types
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint

import pytest

from unigame_core import hookimpl, plugins
from unigame_core.errors import PluginError, UnknownNameError


def plugin_module(name: str, **hooks: Callable[..., None]) -> types.ModuleType:
    """An in-test plugin: a module holding ``hooks`` (marked as hook implementations), importable by name."""
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


@pytest.fixture
def extra_entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``add(name=module, ...)``: pretend these modules are installed as ``unigame`` entry points."""
    import unigame_core.plugins as mod

    real, added, modules = mod.entry_points, [], []

    def add(**named: types.ModuleType | str) -> None:
        for name, module in named.items():
            target = module if isinstance(module, str) else module.__name__
            if not isinstance(module, str):
                sys.modules[module.__name__] = module
                modules.append(module.__name__)
            added.append(EntryPoint(name=name, value=target, group="unigame"))
        plugins.reset()

    monkeypatch.setattr(mod, "entry_points", lambda group: [*real(group=group), *added])
    try:
        yield add
    finally:
        for name in modules:
            del sys.modules[name]


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


def test_broken_plugin_is_reported_and_does_not_break_the_rest(extra_entry_points: Callable[..., None]) -> None:
    extra_entry_points(broken="unigame_no_such_module.plugin")
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


def test_hooks_fire_core_first_then_entry_points_by_name_then_in_process_plugins(
    extra_entry_points: Callable[..., None],
) -> None:
    fired: list[str] = []

    def recorder(name: str) -> types.ModuleType:
        def unigame_register_buffers(buffers):  # noqa: ANN001, ANN202
            fired.append(name)
            buffers.add(f"{name}-buffer", "unigame_core.game.buffer:HardBuffer")

        return plugin_module(f"order_{name}", unigame_register_buffers=unigame_register_buffers)

    extra_entry_points(zeta=recorder("zeta"), aaa=recorder("aaa"))  # pluggy alone would call zeta first
    plugins.register_plugin(recorder("late"), "late")
    plugins.register_plugin(recorder("later"), "later")
    try:
        entries = plugins.buffers().entries()
        assert fired == ["aaa", "zeta", "late", "later"]
        assert [e.plugin for e in entries] == ["core", "aaa", "zeta", "late", "later"]
        loaded = [i.name for i in plugins.plugin_infos()]
        assert loaded[0] == "core" and loaded[1:-2] == sorted(loaded[1:-2])
    finally:
        plugins.unregister_plugin("later")
        plugins.unregister_plugin("late")


def test_a_duplicate_name_breaks_only_that_name() -> None:
    def unigame_register_backends(backends):  # noqa: ANN001, ANN202
        backends.add("janus", "unigame_core.testing:FakeBackend")

    plugins.register_plugin(plugin_module("dupe_plugin", unigame_register_backends=unigame_register_backends), "dupe")
    try:
        backends = plugins.backends()
        assert backends.get("emu3-chat").name == "emu3"  # every other model still resolves
        for name in ("janus", "janus-pro-7b"):
            with pytest.raises(PluginError) as err:
                backends.get(name)
            assert "The backend 'janus' is registered by plugins 'janus' and 'dupe'." in str(err.value)
            assert "UNIGAME_DISABLE_PLUGINS=dupe" in str(err.value)
    finally:
        plugins.unregister_plugin("dupe")


def test_a_misspelt_hook_fails_naming_the_plugin_and_the_hook(extra_entry_points: Callable[..., None]) -> None:
    def unigame_register_backend(backends):  # noqa: ANN001, ANN202  (the "s" is missing)
        backends.add("never", "unigame_core.testing:FakeBackend")

    typo = plugin_module("typo_plugin", unigame_register_backend=unigame_register_backend)
    message = "Plugin 'typo' implements 'unigame_register_backend', which is not a unigame hook. " \
              "Did you mean 'unigame_register_backends'?"
    with pytest.raises(PluginError) as err:
        plugins.register_plugin(typo, "typo")
    assert str(err.value) == message
    assert "typo" not in [i.name for i in plugins.plugin_infos()]
    extra_entry_points(typo=typo)  # installed: reported broken, the rest keep working
    infos = {i.name: i for i in plugins.plugin_infos()}
    assert infos["typo"].status == "broken" and infos["typo"].error == message
    assert "never" not in plugins.backends() and "janus" in plugins.backends()


def test_a_hook_with_wrong_arguments_is_broken_naming_the_plugin(extra_entry_points: Callable[..., None]) -> None:
    def unigame_register_suites(registry):  # noqa: ANN001, ANN202  (the argument must be called suites)
        registry.add("never", "unigame_example.suite:ColourSuite")

    extra_entry_points(wrongargs=plugin_module("wrongargs_plugin", unigame_register_suites=unigame_register_suites))
    info = {i.name: i for i in plugins.plugin_infos()}["wrongargs"]
    assert info.status == "broken" and info.error.startswith("Plugin 'wrongargs' has an invalid hook implementation")
    assert "registry" in info.error and "vqav2" in plugins.suites()


def test_unknown_names_say_their_plugin_is_blocked_or_broken(
    monkeypatch: pytest.MonkeyPatch, extra_entry_points: Callable[..., None],
) -> None:
    monkeypatch.setenv("UNIGAME_DISABLE_PLUGINS", "emu3")
    extra_entry_points(gqa="unigame_no_such_module.plugin")
    with pytest.raises(UnknownNameError, match="Unknown backend 'emu3-chat'. Its plugin did not load: plugin 'emu3' "
                                               "is blocked by UNIGAME_DISABLE_PLUGINS."):
        plugins.backends().get("emu3-chat")
    with pytest.raises(UnknownNameError, match="Unknown suite 'gqa'. Its plugin did not load: plugin 'gqa' is "
                                               "broken \\(ModuleNotFoundError: No module named"):
        plugins.suites().get("gqa")


def test_unknown_names_in_the_disable_variable_are_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("UNIGAME_DISABLE_PLUGINS", "exmaple,emu3")
    plugins.reset()
    with caplog.at_level(logging.WARNING, logger="unigame_core.plugins"):
        plugins.report_problems()
        plugins.report_problems()  # once per discovery
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("UNIGAME_DISABLE_PLUGINS names 'exmaple', which is no installed plugin "
                                  "(did you mean 'example'?); installed: core, ")
    assert {i.name: i.status for i in plugins.plugin_infos()}["emu3"] == "blocked"


def test_a_registered_class_of_the_wrong_kind_fails_on_load_naming_the_plugin() -> None:
    def unigame_register_backends(backends):  # noqa: ANN001, ANN202
        backends.add("not-a-backend", "unigame_core.testing:FakeSettings")

    plugins.register_plugin(plugin_module("wrongkind_plugin", unigame_register_backends=unigame_register_backends),
                            "wrongkind")
    try:
        with pytest.raises(PluginError, match="Plugin 'wrongkind' registers backend 'not-a-backend' as "
                                              "'unigame_core.testing:FakeSettings', which is not a subclass of "
                                              "unigame_core.interfaces.Backend."):
            plugins.backends().get("not-a-backend").load()
    finally:
        plugins.unregister_plugin("wrongkind")
