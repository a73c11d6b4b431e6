"""The evals plugin's registration (official benchmarks only), and every lm-eval task YAML it ships."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from unigame_core import plugins
from unigame_core.eval.lm_eval_bridge import UnigameLM
from unigame_core.eval.tasks import run_tasks, task_manager
from unigame_core.testing import FakeBackend
from unigame_evals import options
from unigame_evals.fixtures import write_advqa, write_mmmu, write_naturalbench, write_pope, write_vqav2
from unigame_evals.plugin import TASKS_DIR

SUITES = {"vqav2": options.VQAv2Options, "pope": options.POPEOptions, "mmmu": options.MMMUOptions,
          "naturalbench": options.NaturalBenchOptions, "advqa": options.AdVQAOptions}
TASKS = {"unigame_vqav2", "unigame_pope_random", "unigame_pope_popular", "unigame_pope_adversarial", "unigame_mmmu",
         "unigame_naturalbench", "unigame_advqa"}


def test_suites_are_registered_through_the_entry_point() -> None:
    registry = plugins.suites()
    for name, config in SUITES.items():
        entry = registry.get(name)
        assert entry.plugin == "evals" and entry.config is config and entry.help
        assert entry.extra.lm_eval_tasks == TASKS_DIR
        assert entry.load().name == name
        assert entry.extra.requires == ()
    assert sorted(n for n in registry.names() if registry.get(n).plugin == "evals") == sorted(SUITES)


def test_plugin_module_imports_nothing_heavy() -> None:
    code = ("import sys, unigame_evals.plugin; "
            "print([m for m in ('torch', 'lm_eval', 'datasets', 'pyarrow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_task_index_holds_only_our_tasks() -> None:
    manager = task_manager([TASKS_DIR])
    assert set(manager.all_subtasks) == TASKS
    assert manager.all_groups == ["unigame_pope"]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("yaml-data")
    write_vqav2(root / "vqav2", n=3)
    write_pope(root / "pope", n=2)
    write_mmmu(root / "mmmu", n=2)
    write_naturalbench(root / "naturalbench", n=1)
    write_advqa(root / "advqa", n=2)
    return root


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_loads_docs_with_paths_or_bytes(task: str, fixtures: Path) -> None:
    loaded = task_manager([TASKS_DIR], {"data_root": str(fixtures)}).load([task])
    built = loaded["tasks"][task]
    assert built.MULTIMODAL and built.OUTPUT_TYPE == "generate_until"
    doc = built.test_docs()[0]
    assert {"id", "question", "image", "references", "target"} <= set(doc)
    assert isinstance(doc["image"], (str, bytes)) and doc["image"]  # never decoded pixels
    assert built.doc_to_image(doc) == doc["image"] and built.doc_to_text(doc) == doc["question"]


def test_pope_group_averages_its_categories(fixtures: Path, script: Any) -> None:
    backend = FakeBackend()
    script(backend, lambda q: "Yes")
    lm = UnigameLM(backend, batch_size=8)
    out = run_tasks(lm, ["unigame_pope"], include_paths=[TASKS_DIR], metadata={"data_root": str(fixtures)})
    assert out["unigame_pope"].n == 6 and out["unigame_pope_random"].n == 2
    assert out["unigame_pope"].metrics == pytest.approx(
        {"accuracy": 0.5, "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "yes_ratio": 1.0})
