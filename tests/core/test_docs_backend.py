"""The minimal backend of docs/plugins.md is real code: its blocks are extracted, installed as a package for
this test only, registered in-process, and must pass ``check_backend``, configure, load a checkpoint folder
and train."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

from unigame_core import plugins
from unigame_core.config import build_config
from unigame_core.errors import ConfigError
from unigame_core.run.build import build_backend, placement
from unigame_core.testing import check_backend

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
CPU = placement("cpu", "fp32")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture
def my_umm(tmp_path: Path) -> Iterator[ModuleType]:
    """The doc's ``my_umm`` package (every block opening with ``# my_umm/<file>.py``), registered in-process."""
    package = tmp_path / "site" / "my_umm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    files = {}
    for block in python_blocks():
        first = block.splitlines()[0]
        if first.startswith("# my_umm/"):
            files[first[2:]] = block
            (package.parent / first[2:]).write_text(block)
    assert sorted(files) == ["my_umm/backend.py", "my_umm/plugin.py", "my_umm/settings.py"]
    sys.path.insert(0, str(package.parent))
    try:
        import my_umm.plugin

        plugins.register_plugin(my_umm.plugin, "my-umm")
        try:
            yield my_umm.plugin
        finally:
            plugins.unregister_plugin("my-umm")
    finally:
        sys.path.remove(str(package.parent))
        for name in [m for m in sys.modules if m == "my_umm" or m.startswith("my_umm.")]:
            del sys.modules[name]


def test_the_docs_minimal_backend_passes_check_backend(my_umm: ModuleType) -> None:
    backend = build_backend(build_config("tiny-umm", None, ["train.device=cpu"]), CPU)
    check_backend(backend)
    assert "torch" not in my_umm.__dict__  # registering imports no torch


def test_the_docs_own_plugin_test_runs(my_umm: ModuleType) -> None:
    (imports,) = [b for b in python_blocks() if b.startswith("from unigame_core import plugins ")]
    (test,) = [b for b in python_blocks() if "def test_tiny_umm_meets_the_backend_contract" in b]
    namespace: dict[str, object] = {}
    exec(compile(imports, "docs/plugins.md (imports)", "exec"), namespace)  # noqa: S102 - the doc's own code
    assert callable(namespace["check_backend"]) and callable(namespace["quick_overrides"])
    plugins.unregister_plugin("my-umm")  # the doc's test registers it itself
    try:
        exec(compile(test, "docs/plugins.md (test)", "exec"), namespace)  # noqa: S102
        namespace["test_tiny_umm_meets_the_backend_contract"]()  # type: ignore[operator]
        assert "tiny-umm" not in plugins.backends()  # and takes it away again
    finally:
        plugins.register_plugin(my_umm, "my-umm")


def test_the_docs_choice_alias_and_checkpoint_folder_work(my_umm: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        build_config("tiny-umm", None, ["backend.pooling=median"])
    message = "Invalid configuration key 'backend.pooling': must be one of mean, max, got 'median'."
    assert str(err.value) == message and message in " ".join(DOC.read_text().split())  # as the doc shows
    assert build_config("tiny-umm-max", None, []).backend.pooling == "max"

    from safetensors.torch import save_file

    trained = build_backend(build_config("tiny-umm", None, []), CPU)
    with torch.no_grad():
        trained.model.head.weight.add_(1.0)
    folder = tmp_path / "ckpt"
    folder.mkdir()
    save_file(trained.model.state_dict(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny-umm"}))
    cfg = build_config(str(folder), None, [])
    assert cfg.backend.name == "tiny-umm" and cfg.backend.checkpoint == str(folder)
    loaded = build_backend(cfg, CPU)
    assert torch.equal(loaded.model.head.weight, trained.model.head.weight)
    fresh = build_backend(cfg, CPU, random_weights=True)  # what `unigame bench --random-weights` does
    assert not torch.equal(fresh.model.head.weight, trained.model.head.weight)


@pytest.mark.slow
def test_the_docs_minimal_backend_trains(my_umm: ModuleType, tmp_path: Path) -> None:
    from unigame_core import testing
    from unigame_core.run.runner import run_training

    plugins.register_plugin(testing, "fake")  # the fake:N data source
    try:
        cfg = build_config("tiny-umm", None, testing.quick_overrides(tmp_path / "run", "train.steps=2"))
        run = run_training(cfg)
    finally:
        plugins.unregister_plugin("fake")
    assert (run / "adapter" / "adapter_config.json").exists()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "step" in r][-1] == 2
