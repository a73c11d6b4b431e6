"""Registers the shapes world: the embedded default model, its data source and its commands.

No torch import here: ``unigame --help`` and ``unigame models list`` stay fast.
"""

from __future__ import annotations

from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from . import assets

# The embedded default: UniGame on the shapes world from the shipped tiny base, sized to finish in
# under three minutes on a 2-core CPU. Every value here is an ordinary config override.
DEFAULTS = {
    "backend": {"checkpoint": str(assets.JANUS_DIR), "max_new_tokens": 3},
    "data": {"spec": "shapes:train"},
    "gate": {"name": "clip", "model": assets.CLIP_NAME, "pretrained": str(assets.CLIP_WEIGHTS),
             "model_config": str(assets.CLIP_CONFIG), "mode": "image", "image_threshold": 0.9},
    "game": {"eps_max": 0.05, "lambda_reg": 80.0},  # both measured: docs/training.md, "Game health"
    "optim": {"lr_lora": 1e-3, "lr_perturber": 1e-2, "warmup_steps": 10},
    "lora": {"r": 8, "alpha": 16},
    # No output_dir here: every model writes to the one documented default, train.output_dir = runs/unigame.
    "train": {"steps": 150, "batch_size": 16, "log_every": 10, "sample_every": 50,
              "checkpoint_every": 0, "eval_suites": ["shapes", "consistency"], "eval_limit": 150},
}


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.alias("shapes-tiny", "janus", defaults=DEFAULTS, default=True,
                   help="tiny Janus-architecture UMM trained on the shapes world (ships with unigame)")


@hookimpl
def unigame_register_datasets(datasets: Registry) -> None:
    datasets.add("shapes", "unigame_shapes.dataset:shapes_source",
                 help="the procedural shapes world: shapes:train | shapes:val (tune here) | shapes:test | shapes:shift")


@hookimpl
def unigame_register_commands(commands: Registry) -> None:
    commands.add("shapes", "unigame_shapes.cli:shapes_app", help="The shapes world: re-make the shipped base model.")
    commands.add("study", "unigame_shapes.cli:study_app", help="Studies on the shapes world (the paper's ablation).")
