"""The Hugging Face backend base (``unigame_core.hf``): settings coercion, ``~`` expansion, the hub check and
the one unavailable-checkpoint error, through a toy backend registered like a third-party plugin."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional

import pytest
import torch
from omegaconf import OmegaConf
from typer.testing import CliRunner

from unigame_core import hookimpl, plugins
from unigame_core.cli.main import app
from unigame_core.config import DEFAULT_GATE, build_config
from unigame_core.errors import ConfigError, DataError
from unigame_core.hf import HFBackend, HFSettings, coerce_settings, pretrained


@dataclass
class ToySettings(HFSettings):
    label: ClassVar[str] = "Toy"
    path_fields: ClassVar[tuple[str, ...]] = ("checkpoint", "cache_dir", "tower")

    checkpoint: str = "toy-org/toy-model"
    tower: Optional[str] = None
    steps: int = 1

    def check(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"Invalid configuration key 'backend.steps': {self.steps} is not >= 1.")


@dataclass
class GatedToySettings(ToySettings):
    default_gate: ClassVar[Optional[str]] = "none"


class ToyBackend(HFBackend):
    """Reads its checkpoint's config.json the way a real backend calls ``from_pretrained``."""

    settings_class = ToySettings

    def load(self) -> Any:
        import torch

        with pretrained(self.settings) as self.kwargs:
            self.config = json.loads((Path(self.settings.checkpoint) / "config.json").read_text())
        return torch.nn.Linear(1, 1)

    def build_roles(self) -> None:
        self._image_size = 8

    capabilities = frozenset()  # type: ignore[assignment]

    def image_transform(self) -> Any:
        return None

    def generate_images(self, prompts: Any, *, guidance_scale: Any = None, seed: int = 0) -> Any:
        raise NotImplementedError


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Backends ``toy`` (no default gate) and ``gated-toy`` (declares ``none``) from an in-test plugin."""
    module = types.ModuleType("toy_hf_plugin")
    module.ToyBackend = ToyBackend  # type: ignore[attr-defined]

    @hookimpl
    def unigame_register_backends(backends):  # noqa: ANN001, ANN202
        backends.add("toy", "toy_hf_plugin:ToyBackend", config=ToySettings, model_types=("toy",))
        backends.add("gated-toy", "toy_hf_plugin:ToyBackend", config=GatedToySettings)

    module.unigame_register_backends = unigame_register_backends  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "toy_hf_plugin", module)
    plugins.register_plugin(module, "toy")
    try:
        yield
    finally:
        plugins.unregister_plugin("toy")


def test_coercion_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"'backend\.stepz': the Toy backend has no such setting") as info:
        coerce_settings({"stepz": 2}, ToySettings)
    assert "steps" in info.value.hint and "checkpoint" in info.value.hint  # the settings it has
    with pytest.raises(ConfigError, match=r"'backend\.steps': Value 'many' .*could not be converted to Integer"):
        coerce_settings({"steps": "many"}, ToySettings)
    with pytest.raises(ConfigError, match=r"'backend\.steps': 0 is not >= 1"):  # the subclass's own check
        coerce_settings({"steps": 0}, ToySettings)
    node = OmegaConf.create({"name": "toy", "steps": "3", "random_weights": True})  # name ignored, "3" converted
    assert coerce_settings(node, ToySettings) == ToySettings(steps=3, random_weights=True)


def test_tilde_is_expanded_in_every_path_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = coerce_settings({"checkpoint": "~/ckpt", "cache_dir": "~/cache", "tower": "~/tower"}, ToySettings)
    assert (settings.checkpoint, settings.cache_dir, settings.tower) == tuple(
        str(tmp_path / name) for name in ("ckpt", "cache", "tower"))
    assert coerce_settings({"checkpoint": "org/name"}, ToySettings).checkpoint == "org/name"  # a hub id stays


def test_every_hugging_face_backend_expands_tilde(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    configs = {n: plugins.backends().get(n).config for n in plugins.backends().names()}
    hf_backends = {n: c for n, c in configs.items() if isinstance(c, type) and issubclass(c, HFSettings)}
    assert {"janus", "emu3", "blip3o"} <= set(hf_backends)
    for cls in hf_backends.values():
        settings = coerce_settings({"checkpoint": "~/ckpt", "cache_dir": "~/cache"}, cls)
        assert settings.checkpoint == str(tmp_path / "ckpt") and settings.cache_dir == str(tmp_path / "cache")


def test_a_folder_loads_with_the_hub_settings_untouched(toy: None, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "toy"}')
    backend = ToyBackend({"checkpoint": str(tmp_path), "revision": "v1", "local_files_only": False})
    assert backend.config == {"model_type": "toy"} and backend.settings.label == "Toy"
    assert backend.kwargs == {"revision": "v1", "cache_dir": None, "local_files_only": False}
    with pytest.raises(DataError, match=r"^Cannot load Toy checkpoint '.*empty': \[Errno 2\]") as info:
        (tmp_path / "empty").mkdir()
        ToyBackend({"checkpoint": str(tmp_path / "empty")})
    assert "backend.random_weights=true" in info.value.hint


def test_missing_folder_and_uncached_hub_id_are_one_sentence(toy: None, no_hub: None, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DataError) as info:
        ToyBackend({"checkpoint": "~/missing"})
    assert info.value.message == f"Toy checkpoint folder '{tmp_path / 'missing'}' does not exist."
    with pytest.raises(DataError) as info:
        ToyBackend({"checkpoint": "toy-org/toy-model", "cache_dir": str(tmp_path / "cache")})
    assert info.value.message == ("Toy checkpoint 'toy-org/toy-model' is not in the local cache and the model hub "
                                  "(127.0.0.1) cannot be reached.")
    assert "hf download toy-org/toy-model --local-dir DIR" in info.value.hint


@pytest.mark.parametrize("checkpoint, sentence", [
    ("~/missing", "Toy checkpoint folder '{home}/missing' does not exist."),
    ("toy-org/toy-model", "Toy checkpoint 'toy-org/toy-model' is not in the local cache and HF_HUB_OFFLINE=1"),
])
def test_cli_exits_2_with_the_sentence(toy: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checkpoint: str,
                                       sentence: str) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with torch.random.fork_rng():  # the run seeds torch: later tests keep their own random state
        result = CliRunner().invoke(app, ["train", "--model", "toy", "--data", "shapes:train", "--output",
                                          str(tmp_path / "run"), f"backend.checkpoint={checkpoint}",
                                          f"backend.cache_dir={tmp_path / 'cache'}", "train.device=cpu"])
    assert result.exit_code == 2, result.output
    assert sentence.format(home=tmp_path) in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_default_gate_is_the_backends_choice_else_one_without_download(toy: None) -> None:
    assert DEFAULT_GATE == "cosine"
    assert build_config("toy").gate.name == "cosine"  # declares none: no CLIP download
    assert build_config("gated-toy").gate.name == "none"  # declares its own
    assert build_config("gated-toy", None, ["gate.name=cosine", "gate.threshold=0.5"]).gate.threshold == 0.5
    assert build_config("janus-pro-7b").gate.name == "clip"  # Janus, Emu3 and BLIP3-o choose the paper's gate
    assert build_config("emu3-chat").gate.name == "clip" and build_config("blip3o-8b").gate.name == "clip"
