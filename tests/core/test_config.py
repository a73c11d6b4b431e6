from __future__ import annotations

import re
from pathlib import Path

import pytest

from unigame_core.config import build_config, load_yaml, parse_overrides, validate_component
from unigame_core.errors import ConfigError, UnknownNameError


def test_precedence_defaults_alias_file_overrides(tmp_path: Path) -> None:
    # dataclass default batch_size 8; the example alias sets 4; the file sets 6; the override sets 3
    cfg = build_config("example-janus", None, [])
    assert cfg.backend.name == "janus" and cfg.backend.checkpoint == "example-org/Example-Janus"
    assert cfg.train.batch_size == 4 and cfg.train.steps == 5000
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  batch_size: 6\n  steps: 7\n")
    cfg = build_config("example-janus", str(f), [])
    assert (cfg.train.batch_size, cfg.train.steps) == (6, 7)
    cfg = build_config("example-janus", str(f), ["train.batch_size=3"])
    assert (cfg.train.batch_size, cfg.train.steps) == (3, 7)


def test_model_can_come_from_the_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("model: janus-pro-1b\n")
    assert build_config(None, str(f), []).backend.checkpoint == "deepseek-community/Janus-Pro-1B"


def test_unknown_key_fails_naming_it() -> None:
    with pytest.raises(ConfigError, match="'train.stepz'"):
        build_config("janus-pro-7b", None, ["train.stepz=3"])


def test_wrong_type_fails_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="'train.steps'"):
        build_config("janus-pro-7b", None, ["train.steps=many"])


def test_plugin_component_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="'buffer.capacty'"):
        build_config("janus-pro-7b", None, ["buffer.capacty=3"])
    with pytest.raises(ConfigError, match="'backend.random_weightz'"):
        build_config("janus-pro-7b", None, ["backend.random_weightz=true"])
    with pytest.raises(UnknownNameError, match="Did you mean 'cosine'"):
        build_config("janus-pro-7b", None, ["gate.name=cosin"])
    cfg = build_config("janus-pro-7b", None, ["buffer.capacity=10", "gate.name=cosine", "gate.threshold=0.5"])
    assert cfg.buffer.capacity == 10 and cfg.gate.threshold == 0.5


def test_value_checks() -> None:
    with pytest.raises(ConfigError, match="game.coupling"):
        build_config("janus-pro-7b", None, ["game.coupling=pixels"])


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("optim.lr_lora=-1e-4", "optim.lr_lora", "non-negative"),
        ("optim.lr_perturber=-0.5", "optim.lr_perturber", "non-negative"),
        ("train.max_bad_steps=0", "train.max_bad_steps", "at least 1"),
        ("train.batch_size=0", "train.batch_size", "at least 1"),
        ("train.steps=0", "train.steps", "at least 1"),
        ("train.steps=-3", "train.steps", "at least 1"),
        ("train.log_every=0", "train.log_every", "at least 1"),
        ("train.keep_checkpoints=0", "train.keep_checkpoints", "at least 1"),
        ("game.eps_max=-0.1", "game.eps_max", "non-negative"),
        ("game.adversary_fraction=1.5", "game.adversary_fraction", "in (0, 1]"),
        ("lora.dropout=1.0", "lora.dropout", "in [0, 1)"),
        ("lora.r=0", "lora.r", "at least 1"),
        ("optim.grad_clip=0", "optim.grad_clip", "positive"),
        ("buffer.quantile=1.5", "buffer.quantile", "in [0, 1]"),
        ("buffer.capacity=0", "buffer.capacity", "at least 1"),
        ("buffer.tau_mode=median", "buffer.tau_mode", "one of quantile, absolute"),
        ("schedule.mine_every=0", "schedule.mine_every", "at least 1"),
    ],
)
def test_nonsense_values_fail_naming_the_key(override: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=rf"Invalid configuration key '{key}': must be {re.escape(expected)}, got"):
        build_config("janus-pro-7b", None, [override])


@pytest.mark.parametrize("value", ["nan", ".nan", "inf", "-inf", ".inf", "-.inf"])
@pytest.mark.parametrize("key", ["optim.lr_lora", "game.eps_max", "buffer.tau", "gate.image_threshold"])
def test_nan_and_inf_fail_in_any_float_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"Invalid configuration key '{re.escape(key)}': must be a finite number"):
        build_config("janus-pro-7b", None, [f"{key}={value}"])


def test_nan_in_a_config_file_names_the_key(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("optim:\n  lr_perturber: .nan\n")
    with pytest.raises(ConfigError, match="'optim.lr_perturber': must be a finite number, got nan"):
        build_config("janus-pro-7b", str(f), [])


def test_builtin_component_ranges_do_not_apply_to_other_components() -> None:
    # gate.threshold is the cosine gate's; the CLIP gate's thresholds are not range-checked by the core
    cfg = build_config("janus-pro-7b", None, ["gate.name=cosine", "gate.threshold=-1", "buffer.tau=-1e9"])
    assert cfg.gate.threshold == -1 and cfg.buffer.tau == -1e9
    with pytest.raises(ConfigError, match="'gate.threshold': must be in"):
        build_config("janus-pro-7b", None, ["gate.name=cosine", "gate.threshold=1.5"])


def test_unknown_model_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'janus-pro-7b'"):
        build_config("jnus-pro-7b", None, [])


def test_a_model_path_that_is_not_a_checkpoint_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"Model folder '{tmp_path / 'nowhere'}' does not exist."):
        build_config(str(tmp_path / "nowhere"), None, [])
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match="is a file, not a checkpoint folder"):
        build_config(str(tmp_path / "weights.bin"), None, [])
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ConfigError, match="is not a JSON object of model settings"):
        build_config(str(tmp_path), None, [])


def test_checkpoint_folder_is_matched_by_model_type(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "janus"}')
    cfg = build_config(str(tmp_path), None, [])
    assert cfg.backend.name == "janus" and cfg.backend.checkpoint == str(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "mystery"}')
    with pytest.raises(ConfigError, match="model_type 'mystery'"):
        build_config(str(tmp_path), None, [])


def test_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("train:\n  steps: 3\n   batch: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml' at line 3"):
        load_yaml(f)
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")


def test_overrides_parse_scalars_and_reject_garbage() -> None:
    assert parse_overrides(["a.b=3", "c=true", "d=x"]) == {"a": {"b": 3}, "c": True, "d": "x"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["oops"])


def test_an_unclosed_value_and_a_section_set_twice_name_the_override() -> None:
    with pytest.raises(ConfigError, match=r"Override 'train.eval_suites=\[shapes' has a value that is not valid YAML"):
        parse_overrides(["train.steps=3", "train.eval_suites=[shapes"])
    with pytest.raises(ConfigError, match="Overrides 'train=5' and 'train.steps=3' both set 'train'"):
        parse_overrides(["train=5", "train.steps=3"])  # OmegaConf alone would drop train=5 without a word
    assert parse_overrides(["train.steps=3", "train.steps=4", "train.seed=1"]) == {"train": {"steps": 4, "seed": 1}}


def test_backend_defaults_apply_to_aliases_names_and_folders(tmp_path: Path) -> None:
    from unigame_core.config import resolve_model
    from unigame_core.registry import BackendRegistry

    reg = BackendRegistry("backend")
    reg.add(
        "b",
        "json:dumps",
        model_types=("bt",),
        defaults={"game": {"hardness_reference": "round_trip"}, "backend": {"k": 1}},
    )
    reg.alias("b-big", "b", defaults={"backend": {"checkpoint": "org/big", "k": 2}})
    assert resolve_model("b", reg) == ("b", {"game": {"hardness_reference": "round_trip"}, "backend": {"k": 1}})
    assert resolve_model("b-big", reg)[1] == {
        "game": {"hardness_reference": "round_trip"},
        "backend": {"k": 2, "checkpoint": "org/big"},
    }
    (tmp_path / "config.json").write_text('{"model_type": "bt"}')
    assert resolve_model(str(tmp_path), reg)[1]["backend"] == {"k": 1, "checkpoint": str(tmp_path)}


def test_switching_a_component_drops_the_previous_choices_options(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("gate:\n  name: cosine\n  threshold: 0.5\n")
    cfg = build_config("janus-pro-7b", str(f), ["gate.name=none"])
    assert dict(cfg.gate) == {"name": "none"}
    cfg = build_config("janus-pro-7b", str(f), ["gate.threshold=0.7"])
    assert cfg.gate.name == "cosine" and cfg.gate.threshold == 0.7


def test_a_choice_a_plugin_declares_is_checked_in_its_component_and_suite_options() -> None:
    from dataclasses import dataclass

    from unigame_core.config_checks import choice
    from unigame_core.eval.runner import _with_options
    from unigame_core.registry import Registry

    @dataclass
    class Options:
        mode: str = choice("fast", "exact")

    reg = Registry("validator")
    reg.add("mine", "json:dumps", config=Options)
    with pytest.raises(ConfigError, match="^Invalid configuration key 'gate.mode': must be one of fast, exact, "
                                          "got 'slow'.$"):
        validate_component({"name": "mine", "mode": "slow"}, reg, "gate")
    assert validate_component({"name": "mine", "mode": "exact"}, reg, "gate").mode == "exact"
    assert Options().mode == "fast"
    with pytest.raises(ConfigError, match="^Suite option 'mine.mode': must be one of fast, exact, got 'slow'.$"):
        _with_options("mine", Options(), {"mode": "slow"})
    assert _with_options("mine", Options(), {"mode": "exact"}).mode == "exact"
