"""The default gate is the backend's choice: the shapes default never touches a CLIP download, and a CLIP gate
whose weights cannot be fetched fails in one sentence naming what to set (exit code 2)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from unigame_core import hub
from unigame_core.cli.main import app
from unigame_core.config import build_config
from unigame_core.run import build
from unigame_shapes import assets


def test_shapes_default_gate_loads_without_any_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the shapes default reached for the network: {args}")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(hub, "resolve", no_network)
    cfg = build_config()
    assert cfg.gate.name == "clip" and cfg.gate.pretrained == str(assets.CLIP_WEIGHTS)
    gate = build.build_gate(cfg, torch.device("cpu"))
    pixels = torch.rand(2, 3, 32, 32)
    assert gate.embed_images(pixels).shape[0] == 2  # the shipped CLIP, loaded from package data


def test_a_folder_of_a_backend_gets_that_backends_gate() -> None:
    cfg = build_config(str(assets.JANUS_DIR))  # a Janus folder: Janus declares the paper's CLIP gate
    assert cfg.backend.name == "janus" and cfg.gate.name == "clip" and cfg.gate.pretrained == "laion2b_s34b_b88k"
    assert build_config(str(assets.JANUS_DIR), None, ["gate.name=cosine"]).gate.name == "cosine"


@pytest.mark.usefixtures("no_hub")
def test_clip_gate_without_its_weights_exits_2_naming_what_to_set(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "train", "--model", str(assets.JANUS_DIR), "--data", "shapes:train", "--output", str(tmp_path / "run"),
        "train.device=cpu", "train.steps=1", f"gate.cache_dir={tmp_path / 'cache'}"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert ("The CLIP gate's weights (ViT-B-16, laion2b_s34b_b88k) 'laion/CLIP-ViT-B-16-laion2B-s34B-b88K' is not in "
            "the local cache and the model hub (127.0.0.1) cannot be reached.") in text
    assert "`hf download laion/CLIP-ViT-B-16-laion2B-s34B-b88K open_clip_model.safetensors`" in text  # pre-fetch
    assert "gate.pretrained=FILE" in text and "gate.name=cosine" in text and "gate.name=none" in text
    assert "Traceback" not in result.output and "Retrying" not in result.output
