"""Registers the evaluation suites. Imports neither torch nor lm_eval (``unigame suites list`` stays fast).

Each suite is registered with ``lm_eval_tasks`` (this package's task YAML folder, used by
``python -m unigame_core.lm_eval``) and ``requires`` (backend capabilities the suite needs; the
runner checks them right after the model loads, before any suite runs).
"""

from __future__ import annotations

from pathlib import Path

from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .options import ConsistencyOptions, MMMUOptions, POPEOptions, ShapesOptions, VQAv2Options

TASKS_DIR = str(Path(__file__).parent / "tasks")


@hookimpl
def unigame_register_suites(suites: Registry) -> None:
    suites.add("vqav2", "unigame_evals.suites:VQAv2Suite", config=VQAv2Options, lm_eval_tasks=TASKS_DIR,
               help="VQAv2 (official layout), official VQA accuracy, by answer type (%)")
    suites.add("pope", "unigame_evals.suites:POPESuite", config=POPEOptions, lm_eval_tasks=TASKS_DIR,
               help="POPE random/popular/adversarial: accuracy, precision, recall, F1, yes-ratio")
    suites.add("mmmu", "unigame_evals.suites:MMMUSuite", config=MMMUOptions, lm_eval_tasks=TASKS_DIR,
               help="MMMU (official parquet, validation): accuracy overall and per subject")
    suites.add("shapes", "unigame_evals.shapes_suites:ShapesSuite", config=ShapesOptions,
               lm_eval_tasks=TASKS_DIR, help="shapes world: accuracy on test, shift and attacked test images")
    suites.add("consistency", "unigame_evals.shapes_suites:ConsistencySuite", config=ConsistencyOptions,
               lm_eval_tasks=TASKS_DIR, requires=("text_to_image",),
               help="generate images from captions, answer caption-derived questions: agreement")
