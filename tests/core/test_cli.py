from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unigame_core.cli.main import app

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("train", "eval", "bench", "models", "plugins", "suites", "config"):
        assert cmd in result.output


@pytest.mark.slow
def test_help_and_lists_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from unigame_core.cli.main import app\n"
        "r = CliRunner()\n"
        "for args in (['--help'], ['models', 'list'], ['plugins', 'list'], ['suites', 'list']):\n"
        "    assert r.invoke(app, args).exit_code == 0, args\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_models_and_plugins_list() -> None:
    models = runner.invoke(app, ["models", "list"])
    assert models.exit_code == 0
    assert "janus-pro-1b" in models.output and "janus-pro-7b" in models.output and "example-janus" in models.output
    listed = runner.invoke(app, ["plugins", "list"])
    assert "example" in listed.output and "core" in listed.output


def test_typo_in_model_exits_2_with_suggestion() -> None:
    result = runner.invoke(app, ["train", "--model", "jnus-pro-7b"])
    assert result.exit_code == 2
    assert "Did you mean 'janus-pro-7b'?" in result.output
    assert "Traceback" not in result.output


def test_bad_key_and_bad_yaml_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "show", "--model", "janus-pro-7b", "train.stepz=2"])
    assert result.exit_code == 2 and "train.stepz" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    result = runner.invoke(app, ["train", "--model", "janus-pro-7b", "--config", str(bad)])
    assert result.exit_code == 2 and "bad.yaml" in result.output and "line" in result.output


def test_missing_data_file_exits_2_before_loading_a_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--model", "janus-pro-7b", "--data", f"jsonl:{tmp_path}/none.jsonl"])
    assert result.exit_code == 2 and "none.jsonl" in result.output and "does not exist" in result.output


def test_verbose_shows_the_traceback() -> None:
    result = runner.invoke(app, ["--verbose", "train", "--model", "jnus-pro-7b"])
    assert result.exit_code == 2 and "Traceback" in result.output


def test_config_show_prints_resolved_yaml() -> None:
    result = runner.invoke(app, ["config", "show", "--model", "janus-pro-1b", "game.coupling=embedding"])
    assert result.exit_code == 0
    assert "checkpoint: deepseek-community/Janus-Pro-1B" in result.output and "coupling: embedding" in result.output


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    import unigame_core

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"unigame {unigame_core.__version__}"
    assert version("unigame") == unigame_core.__version__  # pyproject reads it from there (one source)


def test_bench_refuses_zero_steps_before_any_model_loads() -> None:
    result = runner.invoke(app, ["bench", "--model", "janus-pro-7b", "--steps", "0"])  # no hub here: must not load
    assert result.exit_code == 2 and "--steps must be at least 1, got 0." in result.output, result.output


def test_nonsense_config_values_exit_2_naming_the_key_before_any_model_loads() -> None:
    cases = {
        "optim.lr_lora=-1e-3": "'optim.lr_lora': must be non-negative, got -0.001.",
        "optim.lr_perturber=nan": "'optim.lr_perturber': must be a finite number, got nan.",
        "game.eps_max=inf": "'game.eps_max': must be a finite number, got inf.",
        "train.max_bad_steps=0": "'train.max_bad_steps': must be at least 1, got 0.",
        "train.batch_size=0": "'train.batch_size': must be at least 1, got 0.",
    }
    for override, message in cases.items():
        result = runner.invoke(app, ["train", "--model", "janus-pro-7b", "--data", "jsonl:none.jsonl", override])
        assert result.exit_code == 2, (override, result.output)
        assert message in result.output.replace("\n", "") and "Traceback" not in result.output, result.output


def _with_broken_plugin(monkeypatch) -> None:  # noqa: ANN001
    from importlib.metadata import EntryPoint

    import unigame_core.plugins as mod

    real = mod.entry_points
    broken = EntryPoint(name="broken", value="unigame_no_such_module.plugin", group="unigame")
    monkeypatch.setattr(mod, "entry_points", lambda group: [*real(group=group), broken])
    mod.reset()


def test_a_broken_plugin_is_one_line_and_its_traceback_shows_with_verbose(monkeypatch) -> None:  # noqa: ANN001
    _with_broken_plugin(monkeypatch)
    quiet = runner.invoke(app, ["plugins", "list"])
    assert quiet.exit_code == 0
    text = " ".join(quiet.output.split())  # rich wraps long log lines
    assert "WARNING plugin 'broken' is broken: ModuleNotFoundError: No module named 'unigame_no_such_module'" in text
    assert "Traceback" not in quiet.output
    from unigame_core import plugins

    plugins.reset()
    loud = runner.invoke(app, ["--verbose", "plugins", "list"])
    assert loud.exit_code == 0
    assert "Traceback (most recent call last)" in loud.output and "import_module" in loud.output


def test_an_unloadable_plugin_command_warns_with_its_traceback_under_verbose(monkeypatch) -> None:  # noqa: ANN001
    import types

    import typer

    from unigame_core import hookimpl, plugins
    from unigame_core.cli import main

    @hookimpl
    def unigame_register_commands(commands):  # noqa: ANN001, ANN202
        commands.add("ghost", "unigame_no_such_module.cli:app", help="cannot load")

    module = types.ModuleType("ghost_cmd")
    module.unigame_register_commands = unigame_register_commands
    plugins.register_plugin(module, "ghostcmd")
    monkeypatch.setattr(main, "app", typer.Typer())  # mount into a throwaway app, as at import
    monkeypatch.setattr(main, "_MOUNT_PROBLEMS", [])
    try:
        main._mount_plugin_commands()
    finally:
        plugins.unregister_plugin("ghostcmd")
    assert [m for m, _ in main._MOUNT_PROBLEMS] == [
        "command 'ghost' unavailable: Plugin 'ghostcmd' registers command 'ghost' as 'unigame_no_such_module.cli:app',"
        " which cannot be imported: ModuleNotFoundError: No module named 'unigame_no_such_module'"]
    quiet = runner.invoke(app, ["plugins", "list"])
    text = " ".join(quiet.output.split())
    assert quiet.exit_code == 0 and "WARNING command 'ghost' unavailable: Plugin 'ghostcmd'" in text, quiet.output
    assert "Traceback" not in quiet.output
    loud = runner.invoke(app, ["--verbose", "plugins", "list"])
    assert loud.exit_code == 0 and "Traceback (most recent call last)" in loud.output, loud.output


def test_a_duplicate_name_is_listed_as_a_clash_and_only_it_fails() -> None:
    import types

    from unigame_core import hookimpl, plugins

    @hookimpl
    def unigame_register_backends(backends):  # noqa: ANN001, ANN202
        backends.add("emu3", "unigame_core.testing:FakeBackend")

    module = types.ModuleType("clash_plugin")
    module.unigame_register_backends = unigame_register_backends  # type: ignore[attr-defined]
    plugins.register_plugin(module, "clash")
    try:
        listed = runner.invoke(app, ["models", "list"])
        assert listed.exit_code == 0 and "CLASH: emu3, clash" in listed.output and "janus-pro-7b" in listed.output
        assert runner.invoke(app, ["config", "show", "--model", "janus-pro-1b"]).exit_code == 0
        failed = runner.invoke(app, ["config", "show", "--model", "emu3-chat"])
        assert failed.exit_code == 2 and "Traceback" not in failed.output
        assert "registered by plugins 'emu3' and 'clash'" in failed.output
        assert "UNIGAME_DISABLE_PLUGINS=clash" in failed.output.replace("\n", "")
    finally:
        plugins.unregister_plugin("clash")


def test_every_config_error_is_reported_at_once_before_the_model_loads() -> None:
    result = runner.invoke(app, ["config", "show", "--model", "janus-pro-7b", "train.stepz=2", "optim.lr_lora=-1",
                                 "buffer.tau_mode=absolut", "gate.mode=imag", "gate.image_threshhold=0.5",
                                 "game.eps_max=nan", "train.batch_size=many"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "Invalid configuration: 7 problems." in text
    for expected in ("'train.stepz': Key 'stepz' not in 'TrainConfig'",
                     "'train.batch_size': Value 'many' of type 'str' could not be converted to Integer",
                     "'optim.lr_lora': must be non-negative, got -1",
                     "'buffer.tau_mode': must be one of quantile, absolute, got 'absolut'.",
                     "'gate.mode': must be one of image, text, both, got 'imag'.",
                     "'gate.image_threshhold': Key 'image_threshhold' not in 'ClipGateConfig'",
                     "'game.eps_max': must be a finite number, got nan."):
        assert expected in text, (expected, text)


def test_one_error_boundary_guards_every_command_a_plugins_included() -> None:
    import typer

    from unigame_core.cli.common import guard
    from unigame_core.errors import ConfigError

    def walk(typer_app: typer.Typer):  # noqa: ANN202
        for command in typer_app.registered_commands:
            yield command.callback
        for group in typer_app.registered_groups:
            yield from walk(group.typer_instance)

    callbacks = list(walk(app))
    assert len(callbacks) > 10 and all(getattr(c, "__unigame_guarded__", False) for c in callbacks)

    plugin_app = typer.Typer()  # what a third-party plugin might mount: no @user_errors on its command

    @plugin_app.command("go")
    def go(count: int = 1) -> None:
        raise ConfigError(f"--count {count} is not allowed here.", "Try --count 2.")

    @plugin_app.command("other")
    def other() -> None:
        pass

    outer = typer.Typer()
    outer.add_typer(guard(plugin_app), name="mine")
    result = CliRunner().invoke(outer, ["mine", "go", "--count", "3"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "error: --count 3 is not allowed here. Try --count 2." in text
    assert "Traceback" not in result.output and text.count("error:") == 1
    assert CliRunner().invoke(outer, ["mine", "other"]).exit_code == 0


def test_the_cli_keeps_a_thread_count_it_is_given_and_imports_no_torch_to_decide() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    code = ("import os, sys; import unigame_core.cli.main; "
            "assert 'torch' not in sys.modules; print(os.environ['OMP_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


@pytest.mark.parametrize("load, cores, expected", [(0.0, 2, 2), (0.3, 2, 2), (1.0, 2, 1), (2.1, 2, 1), (9.0, 2, 1),
                                                   (3.0, 16, 13), (0.0, 1, 1)])
def test_a_busy_machine_gets_only_its_idle_cores(load: float, cores: int, expected: int) -> None:
    from unigame_core.threads import idle_threads

    assert idle_threads(load, cores) == expected


def test_threads_are_set_only_when_the_machine_is_busy_and_nobody_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spinning OpenMP threads next to two busy processes cost the default run 227 s of CPU against 76 s with one
    thread (docs/training.md, "On a shared CPU")."""
    from unigame_core import threads

    monkeypatch.setattr(threads, "CHOSEN", None)  # restored afterwards: later CLI tests log nothing about threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "getloadavg", lambda: (2.1, 2.0, 2.0))
    busy: dict[str, str] = {}
    threads.configure(busy)
    assert busy == {"OMP_NUM_THREADS": "1"} and threads.CHOSEN == (1, 2.1, 2)
    chosen = {"OMP_NUM_THREADS": "2"}
    threads.configure(chosen)
    assert chosen == {"OMP_NUM_THREADS": "2"}
    threads.CHOSEN = None
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.5, 0.5))
    idle: dict[str, str] = {}
    threads.configure(idle)
    assert idle == {} and threads.CHOSEN is None


def test_models_list_shows_everything_an_alias_sets() -> None:
    """Not only its backend.* keys: the checkpoint, and every other node the alias (or its backend) sets."""
    wide = runner.invoke(app, ["models", "list"], env={"COLUMNS": "250"})
    assert wide.exit_code == 0, wide.output
    text = wide.output
    assert "backend: checkpoint=example-org/Example-Janus" in text and "train: batch_size=4" in text
    assert "game: hardness_reference=round_trip" in text  # emu3's backend file: every emu3 model sets it
    assert "data: spec=shapes:train" in text and "gate: name=clip" in text and "optim: lr_lora=0.001" in text
    assert "an example alias" in text  # the alias's own help
    narrow = runner.invoke(app, ["models", "list"], env={"COLUMNS": "80"})
    assert max(len(line) for line in narrow.output.splitlines()) <= 80
    assert "…" not in narrow.output and "hardness_reference=round_trip" in narrow.output
