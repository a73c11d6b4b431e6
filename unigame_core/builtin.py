"""The core's own plugin: registers the built-in buffer, schedule, token-space validators and metric loggers.

It is loaded through the ``unigame`` entry point named ``core``, exactly like any other plugin.
"""

from __future__ import annotations

from .game.settings import AlternatingConfig, CosineGateConfig, HardBufferConfig
from .hookspecs import hookimpl
from .registry import Registry


@hookimpl
def unigame_register_buffers(buffers: Registry) -> None:
    buffers.add("hard", "unigame_core.game.buffer:HardBuffer", config=HardBufferConfig,
                help="capacity-bounded buffer of the hardest adversarial samples, priority sampling")


@hookimpl
def unigame_register_schedules(schedules: Registry) -> None:
    schedules.add("alternating", "unigame_core.game.schedule:AlternatingSchedule", config=AlternatingConfig,
                  help="k perturber updates then one understander update per step, with eps/beta warm-up")


@hookimpl
def unigame_register_validators(validators: Registry) -> None:
    validators.add("none", "unigame_core.game.gates:NoGate", help="keep every adversarial sample")
    validators.add("cosine", "unigame_core.game.gates:TokenCosineGate", config=CosineGateConfig,
                   help="cosine similarity of clean and perturbed shared tokens")


@hookimpl
def unigame_register_datasets(datasets: Registry) -> None:
    datasets.add("jsonl", "unigame_core.data.sources:jsonl_dataset",
                 help="JSON lines: {image, question, answer | answers}; image paths relative to the file")
    datasets.add("vqav2", "unigame_core.data.sources:vqav2_dataset",
                 help="official VQAv2 layout: questions/annotations JSON + COCO image folder (train2014)")


@hookimpl
def unigame_register_loggers(loggers: Registry) -> None:
    where = "unigame_core.report.loggers"
    loggers.add("tensorboard", f"{where}:TensorBoardLogger", requires=("tensorboard",), install="tensorboard",
                help="TensorBoard event files in RUN_DIR/tensorboard (the default)")
    loggers.add("wandb", f"{where}:WandbLogger", requires=("wandb",), install="'unigame[wandb]'",
                help="Weights & Biases (project $WANDB_PROJECT, default unigame)")
    loggers.add("mlflow", f"{where}:MlflowLogger", requires=("mlflow",), install="'unigame[mlflow]'",
                help="MLflow tracking ($MLFLOW_TRACKING_URI, $MLFLOW_EXPERIMENT_NAME)")
    loggers.add("trackio", f"{where}:TrackioLogger", requires=("trackio",), install="'unigame[trackio]'",
                help="trackio, local-first (project $TRACKIO_PROJECT, default unigame)")
