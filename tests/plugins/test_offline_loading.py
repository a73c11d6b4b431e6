"""``unigame train`` with a hub checkpoint and no hub: exit 2 in seconds with one sentence (was minutes of
retries and transformers' text), for Janus, Emu3 and the CLIP gate's weights."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unigame_core.cli.main import app
from unigame_core.errors import ConfigError, DataError


@pytest.mark.usefixtures("no_hub")
@pytest.mark.parametrize("model, what, repo", [
    ("janus-pro-1b", "Janus checkpoint", "deepseek-community/Janus-Pro-1B"),
    ("emu3-chat", "Emu3 checkpoint", "BAAI/Emu3-Chat-hf"),
])
def test_train_with_an_uncached_hub_checkpoint_and_no_hub_exits_2_fast(tmp_path: Path, model: str, what: str,
                                                                      repo: str) -> None:
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["train", "--model", model, "--data", "shapes:train", "--output",
                                      str(tmp_path / "run"), f"backend.cache_dir={tmp_path / 'cache'}",
                                      "gate.name=none"])  # the CLIP gate's hub weights would fail first
    elapsed = time.perf_counter() - start
    assert result.exit_code == 2, result.output
    assert f"{what} '{repo}' is not in the local cache and the model hub (127.0.0.1) cannot be reached." \
        in " ".join(result.output.split())
    assert "Retrying" not in result.output and "Traceback" not in result.output
    assert "huggingface.co/" not in result.output  # no transformers text glued on
    assert elapsed < 10.0


@pytest.mark.usefixtures("no_hub")
def test_clip_gate_weights_fail_fast_with_how_to_provide_them(tmp_path: Path) -> None:
    import open_clip  # noqa: F401  # imported before the clock starts: its import time is not the hub's
    from unigame_clip.gate import clip_weights
    from unigame_clip.settings import ClipGateConfig
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        clip_weights(ClipGateConfig(cache_dir=str(tmp_path)))
    assert time.perf_counter() - start < 3.0
    assert "The CLIP gate's weights (ViT-B-16, laion2b_s34b_b88k) 'laion/CLIP-ViT-B-16-laion2B-s34B-b88K'" \
        in info.value.message
    assert "gate.pretrained=FILE" in info.value.hint and "gate.name=none" in info.value.hint

    weights = tmp_path / "clip.bin"
    weights.write_bytes(b"")
    assert clip_weights(ClipGateConfig(pretrained=str(weights))) == str(weights)  # a local file: no hub
    with pytest.raises(ConfigError, match="does not exist"):
        clip_weights(ClipGateConfig(pretrained=str(tmp_path / "missing.bin")))


def test_a_missing_gate_weight_fails_before_the_backend_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unigame_core.run import build

    loaded: list[str] = []
    monkeypatch.setattr(build, "build_backend", lambda cfg, where: loaded.append(cfg.backend.name))
    result = CliRunner().invoke(app, ["train", "--output", str(tmp_path / "run"),
                                      f"gate.pretrained={tmp_path / 'missing.safetensors'}"])
    assert result.exit_code == 2, result.output
    assert "missing.safetensors" in result.output and "does not exist" in " ".join(result.output.split())
    assert loaded == []  # the gate was built first: no model was loaded for a run that cannot start
