"""The game-health summary of report.html: first, in one sentence, whether the adversary played at all; then which
logging windows failed a check, each with the figures its verdict judged.

Whether it played: its CE over the delta = 0 round trip's (the decoder's own damage is not the adversary's),
how far delta went against its bound eps * ||z_i||, and where the tokenizer has codebook ids, the share of ids
it changed. All are the logging windows' means over the adversary's turns (``*_window`` in metrics.jsonl, what
``game/health.py`` judges); a run from before those were logged falls back to each turn's own figures.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .numbers import number, percent, signed

#: the adversary's figures a logging window averages over its turns (``game.health.MEANS``)
WINDOW_FIGURES = ("ce_adv", "ce_start", "ce_round_trip", "gate_pass", "delta_saturation", "tokens_changed",
                  "delta_norm", "delta_bound")


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def windowed(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the run logged its windows' means (``turns`` and ``*_window``)."""
    return any("turns" in r for r in rows)


def adversary_windows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """The adversary's figures per logging window with a turn of its own: the window's means, or (older runs) the
    latest turn's figures, once per turn."""
    found, seen = [], set()
    for r in rows:
        if windowed(rows):
            if r.get("turns"):
                found.append({"step": r["step"], **{k: _num(r.get(f"{k}_window")) for k in WINDOW_FIGURES}})
        elif math.isfinite(_num(r.get("ce_adv"))) and r.get("adversary_step") not in seen:
            seen.add(r.get("adversary_step"))
            found.append({"step": r["step"], **{k: _num(r.get(k)) for k in WINDOW_FIGURES}})
    return found


def adversary_sentence(rows: Sequence[Mapping[str, Any]], coupling: str | None = None) -> str:
    """One sentence: did the adversary play, and by how much (CE gain, delta against its bound, token ids)?"""
    if coupling == "none":
        return "No adversary in this run (game.coupling=none): plain fine-tuning on the clean batch."
    windows = adversary_windows(rows)
    gains = [w["ce_adv"] - w["ce_round_trip"] for w in windows
             if math.isfinite(w["ce_adv"]) and math.isfinite(w["ce_round_trip"])]
    if not gains:
        return "The adversary has not played yet: no logged turn of it." if not windows else ""
    gain, above, n = _mean(gains), sum(g > 0 for g in gains), len(gains)
    deltas = [w["delta_norm"] for w in windows if math.isfinite(w["delta_norm"])]
    delta, bound = _mean(deltas), _mean([w["delta_bound"] for w in windows])
    tokens = _mean([w["tokens_changed"] for w in windows])
    if deltas and not any(d > 0 for d in deltas):
        why = " (its bound was 0: eps 0)" if not bound > 0 else ""
        return (f"The adversary was idle all run: delta was 0 in all {len(deltas)} logged windows{why}, so its "
                f"images are the delta = 0 round trip (CE gain over it: {signed(gain)} nats).")
    where = "windows" if windowed(rows) else "turns"
    ce = (f"its CE was {signed(gain)} nats above the delta = 0 round trip" if gain >= 0 else
          f"its CE was {number(-gain)} nats below the delta = 0 round trip")
    facts = [f"{ce} (mean of {n} logged {where}, above it in {above})"]
    if deltas:
        versus = f" of its bound {number(bound)} ({percent(delta / bound)})" if bound > 0 else ""
        moved = sum(d > 0 for d in deltas)
        facts.append(f"delta {number(delta)}{versus}" + (f", moved in {moved} of {len(deltas)} {where}"
                                                       if moved < len(deltas) else ""))
    if math.isfinite(tokens):
        facts.append(f"{percent(tokens)} of token ids changed")
    head = "The adversary played" if above else (
        "The adversary moved delta but its images were no harder than the round trip" if deltas else
        "The adversary's images were no harder than the round trip")
    return f"{head}: {', '.join(facts)}."


def failed_windows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The windows that failed a check, with the figures the verdict judged (the window's means)."""
    table, start = [], 1
    for r in rows:
        if r.get("health_ok") is False:
            w = {k: _num(r.get(f"{k}_window" if windowed(rows) else k)) for k in WINDOW_FIGURES}
            steps = f"{start}-{r['step']}" if start < r["step"] else str(r["step"])
            table.append({"steps": steps, "failed checks": ", ".join(r.get("health_warnings") or []),
                          "adversary CE": number(w["ce_adv"]), "round-trip CE": number(w["ce_round_trip"]),
                          "gain": signed(w["ce_adv"] - w["ce_round_trip"]), "gate pass": percent(w["gate_pass"]),
                          "delta / bound": percent(w["delta_norm"] / w["delta_bound"]) if w["delta_bound"] > 0
                          else number(w["delta_norm"])})
        start = r["step"] + 1
    return table


def health_summary_html(rows: Sequence[Mapping[str, Any]], coupling: str | None = None) -> str:
    """The adversary sentence, then the failed windows (a table) or that every window passed."""
    sentence = adversary_sentence(rows, coupling)
    failed = failed_windows(rows)
    judged = sum(r.get("health_ok") is not None for r in rows)
    lead = f'<p class="lead">{html.escape(sentence)}</p>' if sentence else ""
    if not failed:
        passed = "Every logging window passed the health checks." if judged else ""
        return lead + (f'<p class="note">{passed}</p>' if passed else "")
    head = "".join(f'<th class="text">{html.escape(k)}</th>' for k in failed[0])
    text = ' class="text"'
    body = "".join("<tr>" + "".join(f'<td{text if k in ("steps", "failed checks") else ""}>{html.escape(v)}</td>'
                                    for k, v in row.items()) + "</tr>" for row in failed)
    return (lead + f'<p class="note warn">{len(failed)} of {judged} logging windows failed a health check '
            '(docs/training.md, "Game health"); the figures are each window\'s means over the adversary\'s turns, '
            "what the checks judged.</p>"
            f'<div class="scroll"><table id="health-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")
