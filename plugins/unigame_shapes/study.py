"""``unigame study ablation``: the paper's ablation rows on the shapes world, at equal steps and seeds.

Each (row, seed) run is an ordinary ``unigame train`` of the embedded default with the row's preset
(``configs/ablations/ROW.yaml``); the trained adapter is then scored by the ``shapes`` suite (test /
shift / attack accuracy) and the ``consistency`` suite. The base model is scored once as a reference.
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path

from unigame_core.cli.common import out
from unigame_core.config import build_config
from unigame_core.game import build
from unigame_core.lora import load_adapter

log = logging.getLogger(__name__)

METRICS = ("test_accuracy", "shift_accuracy", "attack_accuracy", "agreement")


def _score(cfg, adapter: Path | None, eval_samples: int, captions: int) -> dict[str, float]:  # noqa: ANN001
    from unigame_core.eval.runner import evaluate_backend

    backend = build.build_backend(cfg, build.placement(cfg.train.device, cfg.train.precision))
    if adapter is not None:
        load_adapter(backend, adapter)
    metrics = dict(
        evaluate_backend(backend, ["shapes"], data_root=None, limit=eval_samples * 3, batch_size=64)["shapes"].metrics
    )
    if captions:  # every question of ``captions`` generated images (a --limit would count questions)
        consistency = evaluate_backend(backend, ["consistency"], data_root=None, limit=None, batch_size=32,
                                       suite_options=[f"consistency.captions={captions}"])
        metrics["agreement"] = consistency["consistency"].metrics["agreement"]
    return {k: float(v) for k, v in metrics.items() if k in METRICS}


def run_ablation(output: Path, rows: list[str], *, seeds: int, steps: int, eval_samples: int,
                 consistency_captions: int = 32) -> dict[str, list[dict[str, float]]]:
    from unigame_core.game.runner import run_training

    output.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, float]]] = {}
    base_cfg = build_config(None, None, ["train.eval_suites=[]"])
    results["base (no training)"] = [_score(base_cfg, None, eval_samples, consistency_captions)]
    for row in rows:
        for seed in range(seeds):
            run_dir = output / row / f"seed-{seed}"
            cfg = build_config(None, f"ablations/{row}", [
                f"train.seed={seed}", f"train.steps={steps}", f"train.output_dir={run_dir}",
                "train.eval_suites=[]", "train.sample_every=0", "train.checkpoint_every=0",
            ])
            log.info("ablation: %s seed %d", row, seed)
            run_training(cfg, overwrite=True)  # the study owns its row folders: a re-run replaces them
            results.setdefault(row, []).append(_score(cfg, run_dir, eval_samples, consistency_captions))
            (output / "results.json").write_text(json.dumps(results, indent=2))
    table = markdown_table(results)
    (output / "table.md").write_text(table)
    plot(results, output / "ablation.png")
    out.print(table, markup=False, highlight=False)
    return results


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def markdown_table(results: dict[str, list[dict[str, float]]]) -> str:
    header = "| row | runs | test acc. | shift acc. | attack acc. | consistency |\n|---|---|---|---|---|---|\n"
    lines = []
    for row, runs in results.items():
        cells = [_mean_std([r[m] for r in runs if m in r]) if any(m in r for r in runs) else "-" for m in METRICS]
        lines.append(f"| {row} | {len(runs)} | " + " | ".join(cells) + " |")
    return header + "\n".join(lines) + "\n\n(percent; mean ± sample standard deviation over seeds)\n"


def plot(results: dict[str, list[dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(results)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.5), sharey=False)
    for ax, metric in zip(axes, METRICS):
        means = [100 * statistics.mean([r.get(metric, float("nan")) for r in results[row]]) for row in rows]
        stds = [
            100 * statistics.stdev([r[metric] for r in results[row]]) if len(results[row]) > 1 else 0.0 for row in rows
        ]
        ax.bar(range(len(rows)), means, yerr=stds, capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(rows)), rows, rotation=60, ha="right", fontsize=8)
        ax.set_title(metric.replace("_", " "))
        finite = [m for m in means if m == m]
        if finite:
            ax.set_ylim(max(0.0, min(finite) - 10), min(100.0, max(finite) + 5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
