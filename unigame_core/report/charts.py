"""Line charts as inline SVG, for report.html: no plotting library, no network, readable in any browser.

A chart is a ``<figure>`` holding the SVG (axes, ticks, one polyline per series, a legend) and the points
themselves as JSON in ``data-series``, which the report's small script reads for its hover readout.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence

Points = Sequence[tuple[float, float]]
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 26, 30


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3g}"


def _range(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high - low < 1e-12 * max(abs(low), abs(high), 1.0):  # a flat series: give it some room
        pad = abs(low) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def line_chart(series: Mapping[str, Points], title: str, width: int = 560, height: int = 230) -> str:
    """An SVG line chart of ``{name: [(step, value), ...]}``; non-finite values are left out."""
    clean = {name: [(float(x), float(y)) for x, y in pts if math.isfinite(x) and math.isfinite(y)]
             for name, pts in series.items()}
    clean = {name: pts for name, pts in clean.items() if pts}
    data = html.escape(json.dumps({name: [[x, y] for x, y in pts] for name, pts in clean.items()}), quote=True)
    head = f'<figure class="chart" data-title="{html.escape(title, quote=True)}" data-series="{data}">'
    svg = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title, quote=True)}">',
           f'<text class="title" x="{PAD_LEFT}" y="16">{html.escape(title)}</text>']
    if not clean:
        svg.append(f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">no data yet</text>')
        return head + "".join(svg) + "</svg></figure>"
    xs = [x for pts in clean.values() for x, _ in pts]
    ys = [y for pts in clean.values() for _, y in pts]
    x0, x1 = (min(xs), max(xs)) if max(xs) > min(xs) else (min(xs) - 1, max(xs) + 1)
    y0, y1 = _range(ys)
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM

    def px(x: float) -> float:
        return PAD_LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return PAD_TOP + (1 - (y - y0) / (y1 - y0)) * plot_h

    svg.append(f'<g class="plot" data-x0="{x0}" data-x1="{x1}" data-left="{PAD_LEFT}" data-width="{plot_w}">')
    svg.append(f'<rect class="frame" x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}"/>')
    for tick in nice_ticks(y0, y1):
        y = py(tick)
        svg.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    for tick in nice_ticks(x0, x1):
        x = px(tick)
        svg.append(f'<text class="tick" x="{x:.1f}" y="{PAD_TOP + plot_h + 16}" text-anchor="middle">'
                   f"{_label(tick)}</text>")
    for i, (name, pts) in enumerate(clean.items()):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        svg.append(f'<polyline class="curve" data-name="{html.escape(name, quote=True)}" points="{coords}" '
                   f'stroke="{color}"/>')
        if len(pts) == 1:
            svg.append(f'<circle cx="{px(pts[0][0]):.1f}" cy="{py(pts[0][1]):.1f}" r="3" fill="{color}"/>')
        lx = PAD_LEFT + 8 + i * 120
        svg.append(f'<text class="legend" x="{lx + 14}" y="{PAD_TOP + 12}" fill="{color}">{html.escape(name)}</text>'
                   f'<rect x="{lx}" y="{PAD_TOP + 5}" width="10" height="3" fill="{color}"/>')
    svg.append(f'<text class="axis" x="{PAD_LEFT + plot_w}" y="{height - 2}" text-anchor="end">step</text></g>')
    return head + "".join(svg) + "</svg></figure>"
