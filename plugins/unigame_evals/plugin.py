"""Registers the official-benchmark suites (VQAv2, POPE, MMMU, NaturalBench, AdVQA). Imports neither torch
nor lm_eval (``unigame suites list`` stays fast).

Each suite is registered with ``lm_eval_tasks`` (this package's task YAML folder, used by
``python -m unigame_core.lm_eval``), ``file`` (its default options, ``configs/suites/NAME.yaml``) and,
when it needs one, ``requires`` (backend capabilities; the runner checks them right after the model
loads, before any suite runs).
"""

from __future__ import annotations

from pathlib import Path

from unigame_core.config_files import shipped
from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .options import AdVQAOptions, MMMUOptions, NaturalBenchOptions, POPEOptions, VQAv2Options

TASKS_DIR = str(Path(__file__).parent / "tasks")


@hookimpl
def unigame_register_suites(suites: Registry) -> None:
    suites.add("vqav2", "unigame_evals.suites:VQAv2Suite", config=VQAv2Options, lm_eval_tasks=TASKS_DIR,
               file=shipped("suites/vqav2.yaml"),
               help="VQAv2 (official layout), official VQA accuracy, by answer type (%)")
    suites.add("pope", "unigame_evals.suites:POPESuite", config=POPEOptions, lm_eval_tasks=TASKS_DIR,
               file=shipped("suites/pope.yaml"),
               help="POPE random/popular/adversarial: accuracy, precision, recall, F1, yes-ratio")
    suites.add("mmmu", "unigame_evals.suites:MMMUSuite", config=MMMUOptions, lm_eval_tasks=TASKS_DIR,
               file=shipped("suites/mmmu.yaml"),
               help="MMMU (official parquet, validation): accuracy overall and per subject")
    suites.add("naturalbench", "unigame_evals.suites:NaturalBenchSuite", config=NaturalBenchOptions,
               lm_eval_tasks=TASKS_DIR, file=shipped("suites/naturalbench.yaml"),
               help="NaturalBench (release or lmms-eval parquet): Acc, Q-Acc, I-Acc, G-Acc over 2x2 groups")
    suites.add("advqa", "unigame_evals.suites:AdVQASuite", config=AdVQAOptions, lm_eval_tasks=TASKS_DIR,
               file=shipped("suites/advqa.yaml"),
               help="AdVQA (official files, COCO val2017), official VQA accuracy, by answer type (%)")
