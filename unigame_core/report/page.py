"""report.html: one self-contained page per run directory, built from its files alone.

What a person wants after (or during) a run, without TensorBoard or a notebook: the loss curves, the
game's health (adversary CE, gate pass rate, buffer fill, delta norm, eps/tau...), the clean | adversarial
sample grids, the before/after table and the resolved configuration. Everything is inline (SVG charts,
base64 PNGs, CSS, a small script), so the file can be mailed, archived or opened offline.

``write_report(run_dir)`` reads only ``config.yaml``, ``metrics.jsonl``, ``samples/*.png``,
``before_after.json`` (or ``before.json``) and ``adapter/``: training calls it at the end and when it
stops early, and ``unigame report RUN_DIR`` calls it on any run directory. No torch import.
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import plugins
from ..errors import DataError, UnigameError
from .assets import CSS, JS
from .charts import line_chart
from .health_summary import WINDOW_FIGURES, health_summary_html, windowed
from .numbers import MISSING, interval, number, signed
from .sample_section import samples_html

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
LOSSES = ("loss_u", "ce_clean", "ce_buffer")
# game health (health.py): charts of several series, then one per metric
HEALTH_GROUPS = ((("ce_adv", "ce_start", "ce_round_trip"),
                  "adversary CE vs round-trip (delta = 0) CE"),
                 (("candidates", "admitted", "drawn"), "buffer traffic per logging window"),
                 (("candidates_total", "admitted_total", "drawn_total"), "buffer traffic, cumulative"),
                 (("delta_saturation", "tokens_changed"), "delta at its bound / token ids changed"),
                 (("delta_norm", "delta_bound"), "delta norm vs its bound (eps * ||z||)"))
HEALTH = (("gate_pass", "gate pass rate"), ("buffer", "buffer size"), ("delta_norm", "delta norm"),
          ("eps", "eps"), ("tau", "tau (hardness threshold)"), ("mined", "samples mined"),
          ("hardness", "hardness (mean of the turn)"), ("beta", "beta"), ("samples_per_s", "samples / s"),
          ("skipped_updates", "skipped updates"))
ADVERSARY_KEYS = {"ce_adv", "ce_start", "delta_norm", "gate_pass", "mined", "hardness", "eps", "ce_round_trip",
                  "delta_saturation", "tokens_changed", "delta_bound"}  # from its latest turn


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.jsonl, one row per step: a step logged twice (replayed after a resume) keeps its last row."""
    path = Path(run_dir) / "metrics.jsonl"
    rows: dict[int, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int):
                rows[row["step"]] = row
    return [rows[k] for k in sorted(rows)]


def _value(v: Any) -> float:
    if isinstance(v, (list, tuple)):
        numbers = [float(x) for x in v if isinstance(x, (int, float))]
        return sum(numbers) / len(numbers) if numbers else math.nan
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def series(rows: Sequence[Mapping[str, Any]], key: str) -> list[tuple[float, float]]:
    """(step, value) of one metric. The adversary's figures are its logging windows' means (``*_window``, what the
    health verdict judges), at the logged step of each window it played in; a run from before those were logged
    has them at the step of the turn that made them (``adversary_step``), once per turn."""
    points: dict[float, float] = {}
    if key in WINDOW_FIGURES and windowed(rows):
        for row in rows:
            if row.get("turns") and isinstance(row.get("step"), int):
                points[row["step"]] = _value(row.get(f"{key}_window"))
        return sorted((s, v) for s, v in points.items() if math.isfinite(v))
    for row in rows:
        step = row.get("adversary_step") if key in ADVERSARY_KEYS else row.get("step")
        if isinstance(step, int) and key in row:
            points[step] = _value(row[key])
    return sorted((s, v) for s, v in points.items() if math.isfinite(v))


def _cell(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return number(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
        return interval(value)
    if isinstance(value, (dict, list, tuple)):
        return html.escape(json.dumps(value))
    return html.escape(str(value))


def table_html(rows: Sequence[Mapping[str, Any]], css_id: str = "") -> str:
    """A table of whatever columns the rows have (union of their keys, first-seen order). Rows with numeric
    ``before`` and ``after`` and no difference column of their own get a ``change`` column."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    numeric = all(isinstance(r.get(k), (int, float)) for r in rows for k in ("before", "after"))
    add_change = bool(rows) and numeric and not any(c in columns for c in ("change", "delta", "diff", "difference"))
    head = "".join(f'<th class="text">{html.escape(c)}</th>' for c in columns) + ("<th>change</th>" * add_change)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            text_class = ' class="text"' if isinstance(value, str) else ""
            cells.append(f"<td{text_class}>{_cell(value)}</td>")
        if add_change:
            change = float(row["after"]) - float(row["before"])
            cells.append(f'<td class="{"up" if change > 0 else "down" if change < 0 else ""}">{signed(change)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{css_id}"' if css_id else ""
    return (f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            "</div>")


def evaluation_html(data: Any) -> str:
    """before_after.json in whatever shape it has: a list of rows, or a mapping holding rows and other fields."""
    if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
        return table_html(data, "before-after-table")
    if isinstance(data, Mapping):
        parts, fields = [], []
        for key, value in data.items():
            if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
                parts.append(f"<h3>{html.escape(str(key))}</h3>" + table_html(value, f"{key}-table"))
            elif isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
                rows = [{"suite": k, **v} for k, v in value.items()]
                parts.append(f"<h3>{html.escape(str(key))}</h3>" + table_html(rows, f"{key}-table"))
            else:
                name = html.escape(str(key))
                fields.append(f"<tr><th class='text'>{name}</th><td class='text'>{_cell(value)}</td></tr>")
        return (f'<div class="scroll"><table>{"".join(fields)}</table></div>' if fields else "") + "".join(parts)
    return f"<pre>{html.escape(json.dumps(data, indent=2))}</pre>"


def _status(run_dir: Path, rows: list[dict[str, Any]], total: int | None, status: str | None) -> str:
    done = rows[-1]["step"] if rows else 0
    if status is None:
        finished = (run_dir / "adapter").exists() and (total is None or done >= total)
        status = "finished" if finished else f"stopped or still running at step {done}"
    css = "finished" if status == "finished" else "interrupted"
    steps = f"{done}/{total}" if total is not None else str(done)
    hint = "" if status == "finished" else (
        f" &middot; continue with <code>unigame train --resume {html.escape(str(run_dir))}</code>")
    return f'<span class="{css}">{html.escape(status)}</span> &middot; <b>{steps}</b> steps{hint}'


def model_alias(config: Mapping[str, Any]) -> str:
    """The model as the user named it (``janus-pro-7b``, ``shapes-tiny``), never only the backend's name: a run
    with no ``--model`` trained the embedded default, whose alias the plugins say."""
    if config.get("model"):
        return str(config["model"])
    backend = str((config.get("backend") or {}).get("name") or "")
    try:
        default = plugins.backends().default_alias()
    except UnigameError:
        default = None
    if default is not None and (not backend or default.target == backend):
        return default.name
    return backend or "default"


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("cannot read %s for the report: %s", path, exc)
        return None


def render(run_dir: Path, status: str | None = None) -> str:
    """The report page of a run directory, as a string."""
    import yaml

    run_dir = Path(run_dir)
    config_text = (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").exists() else ""
    try:
        config = yaml.safe_load(config_text) if config_text else {}
    except yaml.YAMLError as exc:  # shown as text; the settings it would name are left out
        log.warning("cannot parse %s (%s): the report leaves out the settings it names",
                    run_dir / "config.yaml", " ".join(str(getattr(exc, "problem", exc)).split()))
        config = {}
    config = config if isinstance(config, dict) else {}
    train, game = config.get("train") or {}, config.get("game") or {}
    rows = read_metrics(run_dir)
    losses = {key: series(rows, key) for key in LOSSES}
    losses["ce_adv"] = series(rows, "ce_adv")
    groups = [keys for keys, _ in HEALTH_GROUPS if any(keys[-1] in r or f"{keys[-1]}_window" in r for r in rows)]
    health = "".join(line_chart({key: series(rows, key) for key in keys}, title, 370, 190)
                     for keys, title in HEALTH_GROUPS if keys in groups)
    charted = {key for keys in groups for key in keys}
    health += "".join(line_chart({key: series(rows, key)}, title, 370, 190) for key, title in HEALTH
                      if key not in charted and any(key in r for r in rows))
    facts = [f"model <b>{html.escape(model_alias(config))}</b>",
             f"coupling <b>{html.escape(str(game.get('coupling', '?')))}</b>",
             f"written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"]
    total = train.get("steps") if isinstance(train.get("steps"), int) else None

    evaluation = '<p class="note">No evaluation (set <code>train.eval_suites</code>).</p>'
    if (run_dir / "before_after.json").exists():
        evaluation = evaluation_html(_load_json(run_dir / "before_after.json"))
    elif (run_dir / "before.json").exists():
        evaluation = ('<p class="note">Scores before training; the after-training scores come when the run '
                      "finishes.</p>" + evaluation_html(_load_json(run_dir / "before.json")))
    sections = [
        f"<h1>UniGame run: {html.escape(run_dir.resolve().name)}</h1>",
        f'<p class="status">{_status(run_dir, rows, total, status)} &middot; {" &middot; ".join(facts)}</p>',
        '<h2 id="evaluation">Before / after</h2>' + evaluation,
        '<h2 id="losses">Losses</h2><div class="charts wide">'
        + line_chart(losses, "understander loss and cross-entropies", 820, 300) + "</div>"
        + '<p class="note">loss_u: the understander\'s objective; ce_clean / ce_buffer: its CE on the clean batch '
          "and the buffer draw; ce_adv: its CE on the adversary's images (the adversary's turns).</p>",
        f'<h2 id="health">Game health</h2>{health_summary_html(rows, game.get("coupling"))}'
        f'<p class="note">The adversary\'s figures are the means of each logging window it played in (what the '
        "health checks judge); ce_adv: its CE on its refined images, ce_start: at the perturber's delta before "
        "refinement, ce_round_trip: on the delta = 0 decodes.</p>" + f'<div class="charts">{health}</div>',
        '<h2 id="samples">Samples</h2>' + samples_html(run_dir),
        f'<h2 id="config">Configuration</h2><details><summary>config.yaml</summary><pre>{html.escape(config_text)}'
        "</pre></details>",
    ]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>UniGame run {html.escape(run_dir.resolve().name)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(sections)}<script>{JS}</script></body></html>\n")


def write_report(run_dir: str | Path, status: str | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` from the run directory's files; ``status`` overrides the derived one
    ("interrupted at step 40")."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists() and not (run_dir / "metrics.jsonl").exists():
        raise DataError(f"'{run_dir}' is not a run directory (no config.yaml or metrics.jsonl).",
                        "Pass the output directory of 'unigame train'.")
    path = run_dir / REPORT_NAME
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(run_dir, status), encoding="utf-8")
    tmp.replace(path)
    return path
