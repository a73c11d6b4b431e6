"""The shipped ``configs/`` tree (package data, read through importlib.resources) and the YAML files
registrations name: every shipped file validates against its dataclass, ``config show`` is unchanged."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from typer.testing import CliRunner

import unigame_shapes
from unigame_core import config_files, plugins
from unigame_core.cli.main import app
from unigame_core.config import build_config
from unigame_core.errors import ConfigError
from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

GOLDEN = Path(__file__).parent / "config_show"  # captured before the defaults moved from code to configs/


def _model_files() -> dict[str, str]:
    """Shipped model file -> the alias or backend that names it."""
    registry = plugins.backends()
    named = {alias.file: alias.name for alias in registry.aliases() if alias.file}
    named.update({registry.get(n).extra.file: n for n in registry.names() if registry.get(n).extra.file})
    return named


def test_the_tree_is_read_from_the_installed_package_not_the_source_tree() -> None:
    import unigame_core

    import unigame_core.configs

    assert str(config_files.shipped_root()) == str(Path(unigame_core.configs.__file__).parent)
    for kind in config_files.KINDS:
        assert config_files.shipped_files(kind), kind
    assert config_files.preset("ablations/full") == "unigame_core.configs:ablations/full.yaml"
    assert not config_files.shipped_root().is_symlink()  # the real tree: a checkout without symlinks installs it
    assert config_files.preset("ablations/nope") is None


@pytest.mark.parametrize("name", config_files.shipped_files("models"))
def test_every_model_file_is_named_by_a_registration_and_validates(name: str) -> None:
    model = _model_files().get(config_files.shipped(f"models/{name}.yaml"))
    assert model is not None, f"configs/models/{name}.yaml is named by no alias or backend"
    cfg = build_config(model, None, [])  # the backend's settings dataclass and every other node checked
    data = config_files.read(config_files.shipped(f"models/{name}.yaml"))
    for section, values in data.items():
        for key, value in values.items():
            assert cfg[section][key] == value, f"{name}: {section}.{key}"


@pytest.mark.parametrize("name", config_files.shipped_files("ablations"))
def test_every_ablation_row_validates(name: str) -> None:
    cfg = build_config("janus-pro-7b", f"ablations/{name}", [])
    assert cfg.game.coupling == config_files.read(config_files.shipped(f"ablations/{name}.yaml"))["game"]["coupling"]


@pytest.mark.parametrize("name", config_files.shipped_files("suites"))
def test_every_suite_file_is_its_suites_and_validates(name: str) -> None:
    entry = plugins.suites().get(name)
    assert entry.extra.file == config_files.shipped(f"suites/{name}.yaml")
    data = config_files.read(entry.extra.file)
    merged = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(entry.config), data))
    assert {k: getattr(merged, k) for k in data} == data


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_config_show_prints_what_it_printed_before(golden: Path) -> None:
    args = ["config", "show"] + ([] if golden.stem == "default" else ["--model", golden.stem])
    result = CliRunner().invoke(app, args, env={"COLUMNS": "10000"})  # no wrapping: compare the YAML itself
    assert result.exit_code == 0, result.output
    shapes = str(Path(unigame_shapes.__file__).parent)
    assert result.output.replace(shapes, "{shapes}") == golden.read_text()


def test_a_suite_file_sits_between_the_dataclass_and_the_command_line() -> None:
    from unigame_core.eval.runner import prepare_suites

    (run,) = prepare_suites(["shapes"], None, ["shapes.samples=7"])
    assert run.options.samples == 7 and run.options.attack == "fixed"


def _plugin(**alias: object) -> types.SimpleNamespace:
    @hookimpl
    def unigame_register_backends(backends: Registry) -> None:
        backends.alias("third-party-janus", "janus", help="a third-party alias", **alias)  # type: ignore[arg-type]

    return types.SimpleNamespace(unigame_register_backends=unigame_register_backends)


def test_a_third_party_alias_can_point_at_its_own_yaml_file(tmp_path: Path) -> None:
    own = tmp_path / "my-model.yaml"
    own.write_text("backend:\n  checkpoint: org/Mine\ntrain:\n  batch_size: 3\n  steps: 9\n")
    plugins.register_plugin(_plugin(file=own, defaults={"train": {"steps": 11}}), "third-party")
    try:
        cfg = build_config("third-party-janus", None, [])  # defaults given in code go over the file
        assert (cfg.backend.checkpoint, cfg.train.batch_size, cfg.train.steps) == ("org/Mine", 3, 11)
        over = tmp_path / "run.yaml"
        over.write_text("train:\n  batch_size: 5\n")
        cfg = build_config("third-party-janus", str(over), ["train.steps=2"])  # < --config < overrides
        assert (cfg.backend.checkpoint, cfg.train.batch_size, cfg.train.steps) == ("org/Mine", 5, 2)
    finally:
        plugins.unregister_plugin("third-party")


def test_a_missing_or_malformed_alias_file_is_one_sentence(tmp_path: Path) -> None:
    plugins.register_plugin(_plugin(file="unigame_core.configs:models/nope.yaml"), "third-party")
    try:
        with pytest.raises(ConfigError, match=r"Config file 'unigame_core.configs:models/nope.yaml' does not exist"):
            build_config("third-party-janus", None, [])
    finally:
        plugins.unregister_plugin("third-party")
    with pytest.raises(ConfigError, match="not of the form 'package:path/to/file.yaml'"):
        config_files.read("models/janus-pro-7b.yaml")
    with pytest.raises(ConfigError, match="names package 'no_such_pkg', which is not installed"):
        config_files.read("no_such_pkg:x.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        config_files.read(bad)


def test_package_path_values_name_an_installed_packages_data() -> None:
    data = config_files.parse_yaml("a: ${package_path:unigame_shapes,weights/janus}\nb: [x, '${y}']\n", "t")
    assert data == {"a": str(Path(unigame_shapes.__file__).parent / "weights" / "janus"), "b": ["x", "${y}"]}


@pytest.mark.slow
def test_checking_every_shipped_file_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from omegaconf import OmegaConf\n"
        "from unigame_core import config_files, plugins\n"
        "from unigame_core.config import build_config\n"
        "for a in plugins.backends().aliases():\n"
        "    build_config(a.name, None, [])\n"
        "for row in config_files.shipped_files('ablations'):\n"
        "    build_config('janus-pro-7b', 'ablations/' + row, [])\n"
        "for name in config_files.shipped_files('suites'):\n"
        "    e = plugins.suites().get(name)\n"
        "    OmegaConf.merge(OmegaConf.structured(e.config), config_files.read(e.extra.file))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'lm_eval') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
