"""The GPU check: what a training step and answering cost for the large models, in one call of under 10 minutes.

    python scripts/gpu_check.py [--output DIR] [--models janus-pro-7b,emu3-chat,blip3o-8b] [--budget-s 420]
    python scripts/gpu_check.py --tiny          # the same on the tiny architectures, on a CPU, in about a minute

For each model, with random weights at its real shapes (``--random-weights``: nothing is downloaded), it runs
``unigame bench`` with ``--eval``: the SFT step, the amortised UniGame step and every block between, each
block's peak memory (CUDA max allocated), and greedy answering speed (batched, KV cache) at batch 1 and at a
few larger batches. It writes ``DIR/gpu_check.json`` and ``DIR/gpu_check.md`` (one row per model) after every
model, and each model's full ``unigame bench`` figures under ``DIR/<model>/``.

A model that fails (no architecture files offline, out of memory, a bug) is recorded with its error and the
next one runs: one failure never loses the others' figures. Once ``--budget-s`` seconds have gone, the models
left are recorded as skipped, so the whole check ends inside one device call.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("gpu_check")


@dataclass(frozen=True)
class Plan:
    """How one model is checked: its step's batch, the answering batch sizes, and its settings."""

    batch: int
    answering: tuple[int, ...]
    overrides: tuple[str, ...] = ()


#: real size, one 80 GB GPU, bf16. The cosine gate needs no CLIP download. Emu3 reads ~4 200 tokens per 512 px
#: image (its KV cache bounds the answering batch); BLIP3-o's adversary samples its diffusion decoder, here at
#: the cheaper 512 px / 20 steps of docs/models/blip3o.md.
PLANS = {
    "janus-pro-7b": Plan(8, (1, 8, 32), ("gate.name=cosine",)),
    "emu3-chat": Plan(2, (1, 4), ("gate.name=cosine", "backend.grad_checkpointing=true")),
    "blip3o-8b": Plan(4, (1, 8, 16), ("gate.name=cosine", "backend.grad_checkpointing=true",
                                      "backend.decoder_checkpointing=true", "backend.decoder_size=512",
                                      "backend.decoder_steps=20")),
}
#: ``--tiny``: the same aliases on a CPU as their labelled tiny stand-ins (``backend.tiny=true``); as small and
#: short as a check can be
TINY = Plan(2, (1, 2), ("backend.tiny=true", "gate.name=cosine", "train.device=cpu"))
DEFAULT_PLAN = Plan(8, (1, 8, 32), ("gate.name=cosine",))  # an alias PLANS does not list
TINY_PLANS = {"blip3o-8b": Plan(2, (1, 2), (*TINY.overrides, "backend.decoder_steps=2"))}  # sampler steps dominate


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("gpu_check"), help="folder for the JSON and tables")
    parser.add_argument("--models", default=",".join(PLANS), help="comma-separated model aliases")
    parser.add_argument("--tiny", action="store_true", help="tiny architectures on a CPU (CI, a laptop)")
    parser.add_argument("--steps", type=int, default=None, help="timed rounds per block (default 2; 1 with --tiny)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="answer length (default 10; 2 with --tiny)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no model after this many seconds")
    return parser.parse_args(argv)


def check_model(alias: str, plan: Plan, folder: Path, *, steps: int, max_new_tokens: int) -> dict[str, Any]:
    """One model's figures from ``unigame bench --random-weights --eval`` (raises whatever the model raises)."""
    from unigame_core.config import build_config
    from unigame_core.run.bench import run_bench

    overrides = [*plan.overrides, f"train.batch_size={plan.batch}"]
    cfg = build_config(alias, None, overrides)
    report = run_bench(cfg, steps=steps, random_weights=True, output=folder / alias, overrides=list(plan.overrides),
                       answering=plan.answering, max_new_tokens=max_new_tokens)
    doc = report.as_dict()
    blocks = doc["blocks"]
    rates = {int(b): r for b, r in doc["answering"]["samples_per_s"].items() if isinstance(r, float)}
    best = max(rates, key=rates.__getitem__) if rates else None
    return {"status": "ok", "device": doc["device"], "dtype": doc["dtype"], "batch_size": plan.batch,
            "overrides": list(plan.overrides), "sft_s": blocks[0]["seconds"], "sft_peak_gib": blocks[0]["peak_gib"],
            "unigame_s": blocks[-1]["seconds"], "unigame_peak_gib": blocks[-1]["peak_gib"],
            "unigame_over_sft": doc["unigame_over_sft"],
            "peak_gib": max((b["peak_gib"] for b in blocks if b["peak_gib"] is not None), default=None),
            "answering": doc["answering"], "batch1_samples_per_s": rates.get(1), "best_batch": best,
            "best_samples_per_s": rates.get(best) if best else None, "bench": str(folder / alias / "bench.json")}


def recorded(alias: str, plan: Plan, folder: Path, *, steps: int, max_new_tokens: int) -> dict[str, Any]:
    """``check_model``'s figures, or the error it raised (type, first line, the last frames), and its wall time."""
    log.info("gpu check: %s (batch %d, %s)", alias, plan.batch, " ".join(plan.overrides))
    t0 = time.perf_counter()
    try:
        row = check_model(alias, plan, folder, steps=steps, max_new_tokens=max_new_tokens)
    except Exception as exc:  # one model's failure is recorded; the others still run
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        row = {"status": "error", "batch_size": plan.batch, "overrides": list(plan.overrides),
               "error": f"{type(exc).__name__}: {first}", "traceback": traceback.format_exc(limit=-6)}
        log.error("gpu check: %s failed: %s", alias, row["error"])
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    return row


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _cell(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec) if isinstance(value, float) else str(value)


def markdown(summary: dict[str, Any]) -> str:
    lines = [f"GPU check on {summary['device']} (torch {summary['versions']['torch']}, transformers "
             f"{summary['versions']['transformers']}), random weights, {summary['mode']}", "",
             "| model | batch | SFT step s | UniGame step s | x SFT | peak GiB | answering b=1 samples/s "
             "| best batch | its samples/s | status |", "|---|---|---|---|---|---|---|---|---|---|"]
    for alias, row in summary["models"].items():
        status = row["status"] if row["status"] == "ok" else f"{row['status']}: {row.get('error', '')}"
        lines.append(f"| {alias} | {_cell(row.get('batch_size'))} | {_cell(row.get('sft_s'), '.4f')} "
                     f"| {_cell(row.get('unigame_s'), '.4f')} | {_cell(row.get('unigame_over_sft'), '.2f')} "
                     f"| {_cell(row.get('peak_gib'), '.2f')} | {_cell(row.get('batch1_samples_per_s'), '.2f')} "
                     f"| {_cell(row.get('best_batch'))} | {_cell(row.get('best_samples_per_s'), '.2f')} "
                     f"| {status.replace('|', '/')} |")
    lines += ["", "peak GiB: the largest block's peak (CUDA max allocated on a GPU, process RSS on a CPU); "
              "every block's figures are in <model>/bench.json."]
    return "\n".join(lines) + "\n"


def write(summary: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
    (folder / "gpu_check.md").write_text(markdown(summary))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    import torch
    import transformers

    from unigame_core.console import setup_logging

    setup_logging()
    start = time.perf_counter()
    steps = args.steps or (1 if args.tiny else 2)
    max_new = args.max_new_tokens or (2 if args.tiny else 10)
    device = "CPU" if args.tiny or not torch.cuda.is_available() else torch.cuda.get_device_name()
    summary: dict[str, Any] = {
        "device": device, "mode": "tiny architectures on a CPU" if args.tiny else "real shapes",
        "steps": steps, "max_new_tokens": max_new, "budget_s": args.budget_s,
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__}, "models": {}}
    for alias in [m.strip() for m in args.models.split(",") if m.strip()]:
        if time.perf_counter() - start > args.budget_s:
            summary["models"][alias] = {"status": "skipped", "error": f"out of time ({args.budget_s:.0f} s budget)"}
        else:
            plan = TINY_PLANS.get(alias, TINY) if args.tiny else PLANS.get(alias, DEFAULT_PLAN)
            summary["models"][alias] = recorded(alias, plan, args.output, steps=steps, max_new_tokens=max_new)
            _free_memory()
        write(summary, args.output)
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    write(summary, args.output)
    log.info("gpu check written to %s", args.output / "gpu_check.json")
    return summary


if __name__ == "__main__":
    result = main()
    sys.exit(0 if any(m["status"] == "ok" for m in result["models"].values()) else 1)
