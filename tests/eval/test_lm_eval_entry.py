"""``python -m unigame_core.lm_eval``: lm-eval's command line with the unigame model and tasks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lm_eval.tasks
import pytest

from unigame_core import lm_eval as entry
from unigame_evals.plugin import TASKS_DIR
from unigame_shapes.plugin import TASKS_DIR as SHAPES_TASKS_DIR


def test_every_suite_plugins_task_folder_is_indexed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sorted(entry.task_paths()) == sorted([TASKS_DIR, SHAPES_TASKS_DIR])
    monkeypatch.setattr(lm_eval.tasks, "TaskManager", lm_eval.tasks.TaskManager)  # restored afterwards
    entry._index_plugin_tasks(include_defaults=False)
    (tmp_path / "mine.yaml").write_text("task: my_task\ninclude: " + str(Path(TASKS_DIR) / "vqav2.yaml") + "\n")
    manager = lm_eval.tasks.TaskManager(include_path=str(tmp_path))  # as lm-eval's CLI builds it
    assert {"unigame_vqav2", "unigame_shapes_test", "unigame_consistency", "my_task"} <= set(manager.all_tasks)
    assert "arc_easy" not in manager.all_tasks  # lm-eval's own tasks are not indexed


@pytest.mark.usefixtures("fake_plugins")
def test_lm_eval_run_with_the_unigame_model(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["lm_eval"])
    monkeypatch.setattr(lm_eval.tasks, "TaskManager", lm_eval.tasks.TaskManager)  # restored afterwards
    entry.main(["run", "--model", "unigame", "--model_args", "model=fake-tiny", "--device", "cpu",
                "--tasks", "unigame_pope_random", "--metadata", f"data_root={data_root}",
                "--batch_size", "4", "--limit", "4", "--output_path", str(tmp_path / "out")])
    assert lm_eval.tasks.TaskManager.__name__ == "PluginTasks"  # lm-eval's own tasks not indexed
    (found,) = (tmp_path / "out").rglob("results_*.json")
    results = json.loads(found.read_text())["results"]["unigame_pope_random"]
    assert set(results) >= {"accuracy,none", "precision,none", "recall,none", "f1,none", "yes_ratio,none"}
    assert 0.0 <= results["accuracy,none"] <= 1.0


def test_plain_lm_eval_cannot_find_the_unigame_model() -> None:
    """Why the wrapper exists (docs/evaluation.md): lm-eval 0.4.13 discovers no model from installed packages."""
    import subprocess

    code = "from lm_eval.api.registry import get_model\ntry:\n    get_model('unigame')\nexcept ValueError:\n    print('absent')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "absent", done.stderr
