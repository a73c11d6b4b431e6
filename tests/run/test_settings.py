"""GameSettings: frozen, made by one builder only, and the same for ``unigame train`` and ``unigame bench``."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from unigame_core.config import build_config
from unigame_core.game.couplings import EmbeddingCoupling
from unigame_core.game.players import GameSettings
from unigame_core.run import bench, build, runner
from unigame_core.testing import quick_overrides

ROOT = Path(__file__).resolve().parents[2]


def test_settings_come_from_the_config_and_are_frozen(fake_plugin: None, tmp_path: Path) -> None:
    cfg = build_config("fake-tiny", None, quick_overrides(tmp_path, "game.coupling=embedding", "game.lambda_reg=3",
                                                          "game.adversary_fraction=0.5", "game.buffer_fraction=0.25",
                                                          "optim.grad_clip=2", "game.hardness_reference=round_trip",
                                                          "game.lambda_adv=40", "game.refine_steps=2",
                                                          "game.refine_step=0.25", "game.gate_reference=clean"))
    s = build.game_settings(cfg)
    assert s == GameSettings(EmbeddingCoupling(), eps_max=0.5, lambda_reg=3.0, adversary_fraction=0.5,
                             buffer_fraction=0.25, grad_clip=2.0, lambda_adv=40.0, refine_steps=2, refine_step=0.25,
                             hardness_reference="round_trip", gate_reference="clean")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.eps_max = 1.0  # type: ignore[misc]


def constructions(name: str) -> list[str]:
    """Every ``name(...)`` call in the project's Python sources, as 'path:line'."""
    found = []
    for folder in ("unigame_core", "plugins", "tests", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call):
                    func = node.func
                    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                    if called == name:
                        found.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    return found


def test_the_builder_is_the_only_construction_path() -> None:
    here = "tests/run/test_settings.py"  # the expected value in the test above
    assert [s.split(":")[0] for s in constructions("GameSettings") if not s.startswith(here)] == [
        "unigame_core/run/build.py"]
    assert [s.split(":")[0] for s in constructions("Players")] == ["unigame_core/run/build.py"]


def test_constructions_scanner_sees_this_file() -> None:  # the scanner above would pass vacuously if blind
    assert any(s.startswith("tests/run/test_settings.py") for s in constructions("build_config"))


def test_train_and_bench_play_under_equal_settings(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[GameSettings, object]] = []
    real_players = build.build_players

    def recording(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        players, schedulers = real_players(*args, **kwargs)
        made.append((players.settings, players))
        return players, schedulers

    monkeypatch.setattr(build, "build_players", recording)
    args = ("game.coupling=embedding", "game.eps_max=0.25", "train.steps=1", "game.adversary_fraction=0.5")
    cfg = build_config("fake-tiny", None, quick_overrides(tmp_path / "run", *args))
    runner.run_training(cfg)
    bench.run_bench(cfg, steps=1)
    assert len(made) == 2
    (train_settings, _), (bench_settings, _) = made
    assert train_settings == bench_settings == build.game_settings(cfg)
    assert train_settings.coupling == EmbeddingCoupling() and train_settings.eps_max == 0.25
