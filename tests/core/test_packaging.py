"""The wheel holds what an install needs: the top-level configs/ tree as unigame_core/configs (a build-backend
mapping, no symlink in the source) and every plugin package with its data files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from unigame_core import config_files

ROOT = Path(__file__).resolve().parents[2]


def test_the_source_tree_has_no_symlink_and_the_configs_read_from_the_installed_package() -> None:
    links = [p for folder in ("configs", "unigame_core", "plugins") for p in (ROOT / folder).rglob("*")
             if p.is_symlink()]
    assert not (ROOT / "configs").is_symlink() and links == []
    import unigame_core.configs

    assert Path(str(config_files.shipped_root())) == Path(unigame_core.configs.__file__).parent
    assert config_files.shipped("models/janus-pro-7b.yaml") == "unigame_core.configs:models/janus-pro-7b.yaml"
    assert config_files.read(config_files.shipped("models/janus-pro-7b.yaml"))["backend"]["checkpoint"]


@pytest.mark.slow
def test_the_built_wheel_holds_the_configs_tree_and_every_plugin(tmp_path: Path) -> None:
    source = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("unigame_core", "plugins", "configs"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("unigame-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT / "configs").as_posix() for p in (ROOT / "configs").rglob("*.yaml")}
    assert len(shipped) >= 20 and {f"unigame_core/configs/{s}" for s in shipped} <= names
    assert "unigame_core/configs/__init__.py" in names and not any(n.startswith("configs/") for n in names)
    for package in ("unigame_janus", "unigame_shapes", "unigame_evals", "unigame_clip", "unigame_emu3",
                    "unigame_blip3o", "unigame_robustness"):
        assert f"{package}/plugin.py" in names, package
    assert any(n.startswith("unigame_shapes/weights/") and n.endswith(".safetensors") for n in names)
    assert "unigame_evals/tasks/naturalbench.yaml" in names and "unigame_shapes/tasks/shapes_val.yaml" in names
