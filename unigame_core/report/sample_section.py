"""The Samples section of report.html: per sample, clean | delta = 0 round trip | adversarial decode, with the
question, the expected answer and the model's answer to each image.

The round trip sits next to the adversary's decode so a reader does not credit the adversary with the decoder's
own damage (with eps = 0 the two are the same image). Images are inline PNGs, panels at most ``PANEL_PX`` wide;
grids from before the round trip was captured (no ``step-N.json``) are shown whole, as they are.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .samples import ANSWER_KEYS, COLUMNS, SampleGrid, sample_grids

if TYPE_CHECKING:
    from PIL.Image import Image

MAX_GRIDS, MAX_ROWS, PANEL_PX, MAX_LEGACY_WIDTH = 6, 4, 160, 640
ANSWER_LABELS = dict(zip(ANSWER_KEYS, ("clean", "round trip", "adversarial")))


def png_base64(image: Image, max_width: int) -> str:
    """``image`` as base64 PNG, scaled down (never up) to ``max_width``."""
    if image.width > max_width:
        image = image.convert("RGB").resize((max_width, round(image.height * max_width / image.width)))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _same(said: str, expected: str) -> bool:
    def norm(text: str) -> str:
        return " ".join(text.lower().strip().rstrip(".").split())
    return norm(said) == norm(expected)


def _answers_html(row: dict[str, Any]) -> str:
    expected = str(row.get("answer", ""))
    said = row.get("answers") or {}
    parts = []
    for key, label in ANSWER_LABELS.items():
        if key in said:
            mark = ' <span class="right" title="the expected answer">&#10003;</span>' if _same(str(said[key]),
                                                                                             expected) else ""
            parts.append(f"{label}: <b>{html.escape(str(said[key]))}</b>{mark}")
    return " &middot; ".join(parts)


def _row_html(grid: SampleGrid, panels: list[Image], row: dict[str, Any]) -> str:
    figures = "".join(
        f'<figure><img alt="{html.escape(column, quote=True)}, step {grid.step}" '
        f'src="data:image/png;base64,{png_base64(panel, PANEL_PX)}"><figcaption>{html.escape(column)}</figcaption>'
        "</figure>" for column, panel in zip(grid.columns, panels))
    question = html.escape(str(row.get("question", "")))
    answer = html.escape(str(row.get("answer", "")))
    return (f'<div class="sample-row"><div class="panels">{figures}</div><div class="qa">'
            f"<p>question: {question}</p><p>answer: <b>{answer}</b></p>"
            f'<p class="said">model: {_answers_html(row)}</p></div></div>')


def _grid_html(grid: SampleGrid) -> str:
    if grid.note is None:  # a grid from an earlier version: clean | adversarial, no note
        from PIL import Image as PILImage

        with PILImage.open(grid.path) as img:
            data = png_base64(img, MAX_LEGACY_WIDTH)
        return (f'<figure class="legacy"><img alt="samples at step {grid.step}" src="data:image/png;base64,{data}">'
                f"<figcaption>step {grid.step}: clean | adversarial (no round trip: a grid from an earlier version)"
                "</figcaption></figure>")
    turn = grid.note.get("adversary_step")
    when = f" (the adversary's turn at step {turn})" if isinstance(turn, int) and turn != grid.step else ""
    rows = "".join(_row_html(grid, panels, row) for panels, row in zip(grid.panels(MAX_ROWS), grid.rows))
    return f'<h3>step {grid.step}{html.escape(when)}</h3><div class="sample-rows">{rows}</div>'


def samples_html(run_dir: Path) -> str:
    grids = sample_grids(run_dir)
    if not grids:
        return '<p class="note">No sample grids yet (<code>train.sample_every</code> steps apart).</p>'
    if len(grids) > MAX_GRIDS:  # evenly spaced, first and last kept
        grids = [grids[round(i * (len(grids) - 1) / (MAX_GRIDS - 1))] for i in range(MAX_GRIDS)]
    columns = " | ".join(COLUMNS)
    note = (f'<p class="note">Each row: {html.escape(columns)}, the question, the expected answer and the model\'s '
            "answers (after that step's update) to each image; &#10003; marks the expected answer. The round trip "
            "is what decoding alone does: the adversary's work is the difference between the last two.</p>")
    return note + "".join(_grid_html(g) for g in grids)
