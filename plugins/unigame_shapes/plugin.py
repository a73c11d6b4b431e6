"""Registers the shapes world: the embedded default model (``configs/models/shapes-tiny.yaml``), its
data source, its suites (``shapes``, ``consistency``) and its commands.

The suites run lm-eval tasks through the evals plugin's ``LMEvalSuite`` and answer normalisation, the
embedded default is a Janus-architecture model (the janus plugin's backend and tiny-checkpoint writer) gated by
the clip plugin's gate, so this plugin declares that it needs all three (``requires_plugins``; a test checks
the declaration against the imports). No torch import here: ``unigame --help`` and ``unigame models list``
stay fast.
"""

from __future__ import annotations

from pathlib import Path

from unigame_core.config_files import shipped
from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .options import ConsistencyOptions, ShapesOptions

requires_plugins = ("evals", "janus", "clip")  # the plugins this one needs, checked when plugins load
TASKS_DIR = str(Path(__file__).parent / "tasks")


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.alias("shapes-tiny", "janus", file=shipped("models/shapes-tiny.yaml"), default=True,
                   help="tiny Janus-architecture UMM trained on the shapes world (ships with unigame)")


@hookimpl
def unigame_register_suites(suites: Registry) -> None:
    suites.add("shapes", "unigame_shapes.suites:ShapesSuite", config=ShapesOptions, lm_eval_tasks=TASKS_DIR,
               file=shipped("suites/shapes.yaml"),
               help="shapes world: accuracy on test, shift and attacked test images")
    suites.add("consistency", "unigame_shapes.suites:ConsistencySuite", config=ConsistencyOptions,
               lm_eval_tasks=TASKS_DIR, file=shipped("suites/consistency.yaml"), requires=("text_to_image",),
               help="generate images from captions, answer caption-derived questions: agreement")


@hookimpl
def unigame_register_datasets(datasets: Registry) -> None:
    datasets.add("shapes", "unigame_shapes.dataset:shapes_source",
                 help="the procedural shapes world: shapes:train | shapes:val (tune here) | shapes:test | "
                 "shapes:shift | shapes:nuisance")


@hookimpl
def unigame_register_commands(commands: Registry) -> None:
    commands.add("shapes", "unigame_shapes.cli:shapes_app", help="The shapes world: re-make the shipped base model.")
    commands.add("study", "unigame_shapes.cli:study_app", help="Studies on the shapes world (the paper's ablation).")
