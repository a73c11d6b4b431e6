"""``unigame shapes pretrain``, ``unigame study ablation`` and ``unigame study tradeoff`` (torch is imported inside
the commands)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Optional

import typer

from unigame_core.cli.common import user_errors
from unigame_core.paths import check_output_folder

shapes_app = typer.Typer(help="The shapes world.", no_args_is_help=True)
study_app = typer.Typer(help="Studies on the shapes world.", no_args_is_help=True)


@shapes_app.command("pretrain")
@user_errors
def pretrain_cmd(
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Folder to write (default: the shipped weights)."
    ),
    vq_steps: Optional[int] = typer.Option(None, help="VQ autoencoder steps."),
    vision_steps: Optional[int] = typer.Option(
        None, help="Vision tower steps (per-token labels) before the joint stage."
    ),
    joint_steps: Optional[int] = typer.Option(None, help="Understanding + generation steps."),
    joint_batch_size: Optional[int] = typer.Option(None, help="Images per understanding + generation step."),
    clip_steps: Optional[int] = typer.Option(None, help="CLIP steps."),
    reconstruction_fraction: Optional[float] = typer.Option(
        None,
        help="Share of the joint stage's understanding images shown as the decode of their generation "
        "targets (shipped: 0.5).",
    ),
    seed: int = typer.Option(0, help="Seed (the shipped base uses 0)."),
    device: str = typer.Option(
        "cpu", help="cpu (bitwise reproducible) or cuda / cuda:N (seeded, not bitwise reproducible)."
    ),
) -> None:
    """Re-make the shipped base model, CLIP and attack split from scratch (deterministic on CPU)."""
    from unigame_core.cli.common import fail, out

    from . import assets
    from .pretrain import PretrainConfig, pretrain

    check_device(device)
    if output is not None:
        check_output_folder(output)
    cfg = PretrainConfig(seed=seed, device=device)
    if reconstruction_fraction is not None:
        if not 0.0 <= reconstruction_fraction <= 1.0:
            fail(f"--reconstruction-fraction must be between 0 and 1, got {reconstruction_fraction}.")
        cfg.reconstruction_fraction = reconstruction_fraction
    for name, value in (("vq_steps", vq_steps), ("vision_steps", vision_steps), ("joint_steps", joint_steps),
                        ("joint_batch_size", joint_batch_size), ("clip_steps", clip_steps)):
        if value is not None:
            if value < 1:
                fail(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
            setattr(cfg, name, value)
    quality = pretrain(cfg, output or assets.WEIGHTS)
    out.print({k: round(v, 4) for k, v in quality.items()})


def check_device(device: str) -> None:
    """One clear sentence for a device this machine does not have."""
    import torch

    from unigame_core.cli.common import fail

    if device != "cpu" and not (device == "cuda" or device.startswith("cuda:")):
        fail(f"--device must be cpu, cuda or cuda:N, got {device!r}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        fail(f"--device {device} was asked for but this machine has no CUDA GPU; use --device cpu.")


@study_app.command("ablation")
@user_errors
def ablation_cmd(
    output: Path = typer.Option(Path("runs/ablation"), "--output", "-o", help="Where the table, plot and runs go."),
    rows: str = typer.Option("sft,decoder-eps0,decoder-pgd,decoder,full,embed-adv",
                             help="Comma-separated rows (unigame_shapes.study_rows.ROWS, or any ablation preset)."),
    seeds: int = typer.Option(5, help="Seeds per row."),
    steps: int = typer.Option(2000, help="Training steps per run (equal for every row)."),
    eval_samples: int = typer.Option(1000, help="Questions per split (test, nuisance, each attack)."),
    consistency: int = typer.Option(256, help="Captions generated per run for the consistency score (0 = skip)."),
    attack_eps: float = typer.Option(0.05, help="attack-decoder: eps per shared token, relative to its norm "
                                     "(default: the rows' training eps)."),
    pixel_eps: str = typer.Option("4/255", help="attack-pgd: L_inf eps on [0, 1] pixels (0 skips the pixel attack)."),
    attack_steps: int = typer.Option(10, help="APGD iterations of both adaptive attacks."),
    bootstrap: int = typer.Option(2000, help="Bootstrap replicates for the 95 % intervals."),
    margin: float = typer.Option(1.0, help="Non-inferiority margin on clean test accuracy, in points."),
    report_only: bool = typer.Option(False, "--report-only",
                                     help="Train and score nothing: the table of the runs already scored."),
    rows_version: int = typer.Option(2, "--rows-version", min=1, max=2,
                                     help="1: the first study's rows (lambda_reg 80 as a penalty, no refinement), "
                                          "to read studies/shapes-ablation back."),
) -> None:
    """Train every row at equal steps and seeds, score it, and write intervals, a table, JSON, CSV and a plot.

    The defaults are the full study (5 seeds x 2000 steps x 1000 questions: many hours on a CPU); runs
    already scored with the same settings are reused, so an interrupted study resumes where it stopped.
    """
    from unigame_core.cli.common import fail

    from .study import EvalSettings, run_ablation

    for name, value in (("seeds", seeds), ("steps", steps), ("eval-samples", eval_samples), ("bootstrap", bootstrap)):
        if value < 1:
            fail(f"--{name} must be at least 1, got {value}.")
    if consistency < 0 or attack_steps < 0 or attack_eps < 0 or margin < 0:
        fail("--consistency, --attack-steps, --attack-eps and --margin must not be negative.")
    try:
        if Fraction(pixel_eps) < 0:
            raise ValueError
    except (ValueError, ZeroDivisionError):
        fail(f"--pixel-eps must be a non-negative number or fraction such as 4/255, got '{pixel_eps}'.")
    names = [r.strip() for r in rows.split(",") if r.strip()]
    if not names:
        fail("--rows names no row.")
    check_output_folder(output)
    settings = EvalSettings(questions=eval_samples, captions=consistency, attack_eps=attack_eps,
                            pixel_eps=pixel_eps, attack_steps=attack_steps)
    run_ablation(output, names, seeds=seeds, steps=steps, settings=settings, n_boot=bootstrap, margin=margin / 100,
                 report_only=report_only, version=rows_version)


@study_app.command("tradeoff")
@user_errors
def tradeoff_cmd(
    output: Path = typer.Option(Path("runs/tradeoff"), "--output", "-o", help="Where the map, plot and runs go."),
    rows: str = typer.Option(",".join(["map-control", "map-full", "map-pgd", "map-perturber-only", "map-k1",
                                       "map-eps0.025", "map-eps0.1", "map-beta0.25", "map-gate-clean",
                                       "map-direction"]),
                             help="Comma-separated settings (unigame_shapes.study_rows.MAP, or any ablation preset); "
                                  "the first is the control every other is paired with."),
    seeds: int = typer.Option(3, help="Seeds per setting."),
    steps: int = typer.Option(250, help="Training steps per run."),
    eval_samples: int = typer.Option(200, help="Validation questions scored (clean and each adaptive attack)."),
    consistency: int = typer.Option(64, help="Captions generated per run for the consistency score (0 = skip)."),
    pixel_eps: str = typer.Option("4/255", help="attack-pgd: L_inf eps on [0, 1] pixels (0 skips the pixel attack)."),
    margin: float = typer.Option(1.0, help="The rule's margin on clean and consistency lower bounds, in points."),
    report_only: bool = typer.Option(False, "--report-only",
                                     help="Train and score nothing: the map of the runs already scored."),
) -> None:
    """Map the adversary's trade-off on the VALIDATION split: short paired runs of several settings, each minus
    the control, as gain on the adaptive attacks against the loss in clean accuracy and consistency
    (``tradeoff.svg``), and the setting the pre-stated rule picks (docs/results-shapes.md, "The trade-off map")."""
    from unigame_core.cli.common import fail

    from .study import EvalSettings, run_ablation

    names = [r.strip() for r in rows.split(",") if r.strip()]
    if len(names) < 2:
        fail("--rows needs the control and at least one setting.")
    if seeds < 1 or steps < 1 or eval_samples < 1 or consistency < 0 or margin < 0:
        fail("--seeds, --steps and --eval-samples must be at least 1; --consistency and --margin not negative.")
    check_output_folder(output)
    settings = EvalSettings(questions=eval_samples, captions=consistency, pixel_eps=pixel_eps, split="val")
    run_ablation(output, names, seeds=seeds, steps=steps, settings=settings, margin=margin / 100,
                 report_only=report_only, control=names[0], kind="tradeoff")
