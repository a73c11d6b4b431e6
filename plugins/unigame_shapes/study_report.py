"""The study's outputs: intervals per row and per contrast, the pre-stated reading, table, JSON, CSV, plot."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from unigame_core.bootstrap import Interval, paired_difference, row_interval
from unigame_core.cli.common import out
from unigame_core.report.charts import interval_panel, scatter_panel, svg_figure

from .study_rows import BASE, CONTROL, MAP_MATCHED_CONTROL, METRICS

#: the pre-stated reading: for the method if full - control has a lower bound above zero on these...
FOR_METHOD = ("nuisance", "attack_adaptive")


def _scores(run: dict[str, Any], metric: str) -> dict[str, tuple[float, float]] | None:
    units = run["units"].get(metric)
    return {k: (v[0], v[1]) for k, v in units.items()} if units else None


def _row(runs: dict[int, dict[str, Any]], metric: str) -> dict[int, dict[str, tuple[float, float]]]:
    return {seed: s for seed, run in runs.items() if (s := _scores(run, metric)) is not None}


def summarise(runs: dict[str, dict[int, dict[str, Any]]], n_boot: int, control: str = CONTROL,
              also: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"rows": {row: {metric: Interval}}, "contrasts": {"A - B": {metric: Interval}}}`` (fractions), every
    trained row against ``control``, against sft and against each row of ``also`` (a supplementary control)."""
    rows: dict[str, dict[str, Interval]] = {}
    contrasts: dict[str, dict[str, Interval]] = {}
    for row, seeds in runs.items():
        rows[row] = {m: row_interval(scores, n_boot=n_boot) for m in METRICS if (scores := _row(seeds, m))}
    trained = [r for r in runs if r != BASE]
    for ref in (control, "sft", *also):
        for row in trained:
            if row == ref or ref not in runs:
                continue
            contrasts[f"{row} - {ref}"] = {
                m: paired_difference(a, b, n_boot=n_boot)
                for m in METRICS if (a := _row(runs[row], m)) and (b := _row(runs[ref], m))
            }
    return {"rows": rows, "contrasts": contrasts}


def reading(summary: dict[str, Any], margin: float) -> str:
    """The pre-stated criterion, applied: full - control > 0 (lower bound) on nuisance and adaptive attack,
    and clean test non-inferior: full - sft has a lower bound above ``-margin``."""
    vs_control = summary["contrasts"].get(f"full - {CONTROL}", {})
    vs_sft = summary["contrasts"].get("full - sft", {})
    if not all(m in vs_control for m in FOR_METHOD) or "test" not in vs_sft:
        return "not evaluable: the study needs the rows full, sft and the control with test, nuisance and attack."
    gains = {m: vs_control[m].low > 0 for m in FOR_METHOD}
    clean = vs_sft["test"].low > -margin
    verdict = "FOR the method" if all(gains.values()) and clean else "NOT for the method"
    parts = [f"full - {CONTROL} on {METRICS[m]}: lower bound {100 * vs_control[m].low:+.1f} "
             f"({'above' if gains[m] else 'not above'} 0)" for m in FOR_METHOD]
    holds = "holds" if clean else "does not hold"
    parts.append(f"full - sft on {METRICS['test']}: lower bound {100 * vs_sft['test'].low:+.1f} "
                 f"({'above' if clean else 'not above'} -{100 * margin:.1f}: clean {holds})")
    return f"{verdict}: " + "; ".join(parts) + "."


#: the second study's pre-stated reading (docs/results-shapes.md, "The second study"): written before its first run
GAIN_V2, COSTS_V2, ROBUSTNESS_V2 = "attack_adaptive", ("test", "nuisance", "consistency", "attack_pixels"), (
    "attack_adaptive", "attack_pixels", "nuisance")
PGD = "decoder-pgd"


def reading_v2(summary: dict[str, Any], margin: float) -> str:
    """(i) full - control on the adaptive shared-token attack: lower bound above 0; (ii) full - control on clean
    test, nuisance, consistency and the pixel attack: every lower bound above ``-margin``; the method is supported
    only if both hold. (iii) full - decoder-pgd on each robustness column: the perturber, gate and buffer are
    supported over plain PGD only on a column whose lower bound is above 0, and only if (ii) holds."""
    vs_control = summary["contrasts"].get(f"full - {CONTROL}", {})
    vs_pgd = summary["contrasts"].get(f"full - {PGD}", {})
    if not all(m in vs_control for m in (GAIN_V2, *COSTS_V2)):
        return (f"not evaluable: the study needs the rows full and {CONTROL} scored on test, nuisance, consistency "
                "and both adaptive attacks.")
    gain = vs_control[GAIN_V2].low > 0
    held = {m: vs_control[m].low > -margin for m in COSTS_V2}
    verdict = "FOR the method" if gain and all(held.values()) else "NOT for the method"
    parts = [f"(i) full - {CONTROL} on {METRICS[GAIN_V2]}: lower bound {100 * vs_control[GAIN_V2].low:+.1f} "
             f"({'above' if gain else 'not above'} 0)"]
    parts += [f"(ii) on {METRICS[m]}: {100 * vs_control[m].low:+.1f} ({'above' if ok else 'not above'} "
              f"-{100 * margin:.1f})" for m, ok in held.items()]
    beyond = [METRICS[m] for m in ROBUSTNESS_V2 if m in vs_pgd and vs_pgd[m].low > 0] if all(held.values()) else []
    if not vs_pgd:
        parts.append(f"(iii) not evaluable without {PGD}")
    else:
        parts.append(f"(iii) over {PGD}: " + (f"supported on {', '.join(beyond)}" if beyond else "nothing supported"))
    return f"{verdict}: " + "; ".join(parts) + "."


def _cell(iv: Interval | None, signed: bool = False) -> str:
    if iv is None:
        return "-"
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"{fmt.format(100 * iv.point)} [{fmt.format(100 * iv.low)}, {fmt.format(100 * iv.high)}]"


def markdown_table(summary: dict[str, Any], runs: dict[str, dict[int, dict[str, Any]]]) -> str:
    head = "| row | seeds | " + " | ".join(METRICS.values()) + " |\n|---|---|" + "---|" * len(METRICS) + "\n"
    lines = [f"| {row} | {len(runs[row])} | " + " | ".join(_cell(ivs.get(m)) for m in METRICS) + " |"
             for row, ivs in summary["rows"].items()]
    diff = "| contrast | seeds | " + " | ".join(METRICS.values()) + " |\n|---|---|" + "---|" * len(METRICS) + "\n"
    diffs = [f"| {name} | {next(iter(ivs.values())).seeds if ivs else 0} | "
             + " | ".join(_cell(ivs.get(m), signed=True) for m in METRICS) + " |"
             for name, ivs in summary["contrasts"].items()]
    note = ("(percent; mean over seeds [95 % paired hierarchical bootstrap interval: seeds, then questions "
            "within seed; consistency resamples images])\n")
    return head + "\n".join(lines) + "\n\n" + diff + "\n".join(diffs) + "\n\n" + note


#: the game's health in each trained run, from its metrics.jsonl (docs/training.md, "Game health")
HEALTH = {"windows_flagged": "windows flagged", "ce_gain": "CE adv - round trip",
          "start_gain": "CE start - round trip", "saturation": "delta saturation",
          "tokens_changed": "token ids changed", "gate_pass": "gate pass", "admitted": "admitted / candidates",
          "drawn": "buffer draws"}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def run_health(metrics_file: Path) -> dict[str, float] | None:
    """One run's game health: the share of logging windows flagged by the health check, and the means over
    its logged adversary turns; None when the run logged no adversary turn (sft) or kept no metrics."""
    if not metrics_file.exists():
        return None
    lines = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    turns = [d for d in lines if d.get("ce_adv") is not None and d.get("ce_round_trip") is not None]
    if not turns:
        return None
    of = lambda key: _mean([float(d[key]) for d in turns if d.get(key) is not None])  # noqa: E731
    windows, last = [d for d in lines if "health_ok" in d], lines[-1]
    return {"windows_flagged": _mean([float(not d["health_ok"]) for d in windows]),
            "ce_gain": _mean([float(d["ce_adv"]) - float(d["ce_round_trip"]) for d in turns]),
            "start_gain": _mean([float(d["ce_start"]) - float(d["ce_round_trip"]) for d in turns
                                 if d.get("ce_start") is not None]),  # the perturber's own (NaN before it existed)
            "saturation": of("delta_saturation"), "tokens_changed": of("tokens_changed"), "gate_pass": of("gate_pass"),
            "admitted": float(last.get("admitted_total", 0)) / max(1.0, float(last.get("candidates_total", 0))),
            "drawn": float(last.get("drawn_total", 0))}


def health_table(output: Path, runs: dict[str, dict[int, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """Per trained row with an adversary, each health figure averaged over its seeds (markdown, JSON)."""
    rows: dict[str, dict[str, float]] = {}
    for row, seeds in runs.items():
        if row == BASE:
            continue
        found = [h for seed in seeds if (h := run_health(output / row / f"seed-{seed}" / "metrics.jsonl"))]
        if found:
            rows[row] = {k: _mean([h[k] for h in found]) for k in HEALTH} | {"seeds": len(found)}
    if not rows:
        return "", {}
    head = "| row | seeds | " + " | ".join(HEALTH.values()) + " |\n|---|---|" + "---|" * len(HEALTH) + "\n"
    fmt = {"ce_gain": "{:+.3f}", "start_gain": "{:+.3f}", "drawn": "{:.0f}"}
    cell = lambda k, v: "-" if math.isnan(v) else fmt.get(k, "{:.2f}").format(v)  # noqa: E731 - nan: not measured
    lines = [f"| {row} | {h['seeds']} | " + " | ".join(cell(k, h[k]) for k in HEALTH) + " |" for row, h in rows.items()]
    note = ("(game health, mean over seeds of each run's metrics.jsonl: windows flagged by the health check; "
            "over the logged adversary turns, the adversary's CE minus the delta = 0 decode's (refined; at the "
            "perturber's start, before refinement), the perturber's delta saturation, "
            "share of token ids changed, gate pass rate; buffer admissions over candidates and draws at the end; "
            "-: not measured for that coupling)\n")
    return "Game health\n\n" + head + "\n".join(lines) + "\n\n" + note, rows


def write_csv(summary: dict[str, Any], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "name", "metric", "point", "low", "high", "seeds", "units"])
        for kind in ("rows", "contrasts"):
            for name, ivs in summary[kind].items():
                for metric, iv in ivs.items():
                    w.writerow([kind[:-1], name, metric, iv.point, iv.low, iv.high, iv.seeds, iv.units])


def _estimate(iv: Interval) -> tuple[float, float, float]:
    return 100 * iv.point, 100 * iv.low, 100 * iv.high


def plot(summary: dict[str, Any], path: Path, control_row: str = CONTROL) -> None:
    """``ablation.svg``: top, each row's score; bottom, each row minus the control; 95 % intervals as bars."""
    metrics = [m for m in METRICS if any(m in ivs for ivs in summary["rows"].values())]
    control = {k.split(" - ")[0]: v for k, v in summary["contrasts"].items() if k.endswith(f" - {control_row}")}
    panels = [interval_panel([(n, _estimate(ivs[m])) for n, ivs in summary["rows"].items() if m in ivs],
                             f"{METRICS[m]}, percent") for m in metrics]
    panels += [interval_panel([(n, _estimate(ivs[m])) for n, ivs in control.items() if m in ivs],
                              f"minus {control_row}, points", zero=True) for m in metrics]
    path.write_text(svg_figure(panels, 300, 300, max(len(metrics), 1)))


#: the trade-off map's rule, stated before the map ran (docs/results-shapes.md, "The trade-off map")
GAIN, COSTS = "attack_adaptive", ("val", "consistency")


def choose_setting(summary: dict[str, Any], control: str, margin: float) -> str:
    """The pre-stated rule, applied: of the settings whose clean (val) and consistency differences from the
    control have lower bounds above ``-margin``, the one with the largest point gain on the adaptive shared-token
    attack whose own lower bound is above 0. When none qualifies, it says so and names, as a fallback, the
    largest such gain among the settings whose clean and consistency POINT differences are above ``-margin``."""
    diffs = {k.split(" - ")[0]: v for k, v in summary["contrasts"].items() if k.endswith(f" - {control}")}
    usable = {row: d for row, d in diffs.items() if all(m in d for m in (GAIN, *COSTS))}
    if not usable:
        return "not evaluable: the map needs its control and settings scored on val, consistency and the attack."
    strict = {r: d for r, d in usable.items() if all(d[m].low > -margin for m in COSTS) and d[GAIN].low > 0}
    if strict:
        best = max(strict, key=lambda r: strict[r][GAIN].point)
        return (f"CHOSEN {best}: attack gain {100 * strict[best][GAIN].point:+.1f} points (lower bound "
                f"{100 * strict[best][GAIN].low:+.1f}) with clean and consistency lower bounds above "
                f"-{100 * margin:.1f}.")
    loose = {r: d for r, d in usable.items() if all(d[m].point > -margin for m in COSTS) and d[GAIN].point > 0}
    costs = "; ".join(f"{r}: attack {100 * d[GAIN].point:+.1f}, val {100 * d['val'].point:+.1f}, consistency "
                      f"{100 * d['consistency'].point:+.1f}" for r, d in usable.items())
    if loose:
        best = max(loose, key=lambda r: loose[r][GAIN].point)
        return (f"NO setting qualifies (attack gain above 0 with clean and consistency lower bounds above "
                f"-{100 * margin:.1f}); fallback {best} (points: {costs}).")
    return (f"NO setting qualifies, and none gains on the attack while keeping clean and consistency within "
            f"-{100 * margin:.1f} points ({costs}).")


def tradeoff_plot(summary: dict[str, Any], path: Path, control: str) -> None:
    """``tradeoff.svg``: each setting's gain on the adaptive attacks against its cost in consistency and clean
    accuracy, all as differences from the control with 95 % intervals on both axes."""
    diffs = {k.split(" - ")[0]: v for k, v in summary["contrasts"].items() if k.endswith(f" - {control}")}
    panels = [scatter_panel([(row.removeprefix("map-"), _estimate(d[x]), _estimate(d[y])) for row, d in diffs.items()
                             if x in d and y in d],
                            f"{METRICS[x]} minus {control}, points", f"{METRICS[y]} minus {control}, points")
              for y in ("attack_adaptive", "attack_pixels") for x in COSTS
              if any(x in d and y in d for d in diffs.values())]
    if panels:
        path.write_text(svg_figure(panels, 360, 330, 4))


def write_report(output: Path, runs: dict[str, dict[int, dict[str, Any]]], meta: dict[str, Any]) -> dict[str, Any]:
    """``table.md``, ``summary.json``, ``summary.csv`` and ``ablation.svg`` in ``output`` (a trade-off map also
    ``tradeoff.svg``, and the pre-stated rule's choice in place of the study's reading); prints the table."""
    control = meta.get("control", CONTROL)
    second = meta.get("rows_version") == 2 and meta.get("kind", "ablation") == "ablation"
    matched = (MAP_MATCHED_CONTROL,) if meta.get("kind") == "tradeoff" and MAP_MATCHED_CONTROL in runs else ()
    also = (PGD,) if second and PGD in runs else matched
    summary = summarise(runs, meta["bootstrap"], control, also)
    if meta.get("kind") == "tradeoff":
        verdict = choose_setting(summary, control, meta["margin"])
        label = "Pre-stated rule"
        tradeoff_plot(summary, output / "tradeoff.svg", control)
        for other in matched:  # supplementary: the same rule against the control matched to map-full's pipeline
            verdict += (f"\n\nThe same rule against {other} (a supplementary control, not the pre-stated one): "
                        + choose_setting(summary, other, meta["margin"]))
            tradeoff_plot(summary, output / f"tradeoff-vs-{other}.svg", other)
    else:
        verdict = reading_v2(summary, meta["margin"]) if second else reading(summary, meta["margin"])
        label = "Pre-stated reading"
    health_md, health = health_table(output, runs)
    table = markdown_table(summary, runs) + f"\n{label}: {verdict}\n" + (f"\n{health_md}" if health else "")
    (output / "table.md").write_text(table)
    seconds = {row: {str(seed): [r["train_seconds"], r["eval_seconds"]] for seed, r in rs.items()}
               for row, rs in runs.items()}
    health = {row: {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in h.items()}  # valid JSON
              for row, h in health.items()}
    payload = {"settings": meta, "reading": verdict, "seconds_train_eval": seconds, "health": health,
               **{kind: {name: {m: iv.as_dict() for m, iv in ivs.items()} for name, ivs in summary[kind].items()}
                  for kind in ("rows", "contrasts")}}
    (output / "summary.json").write_text(json.dumps(payload, indent=2))
    write_csv(summary, output / "summary.csv")
    plot(summary, output / "ablation.svg", control)
    out.print(table, markup=False, highlight=False, soft_wrap=True)
    return payload
