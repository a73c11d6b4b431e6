"""Line charts as inline SVG, for report.html: no plotting library, no network, readable in any browser.

A chart is a ``<figure>`` holding the SVG (axes, ticks, one polyline per series, a legend) and the points
themselves as JSON in ``data-series``, which the report's small script reads for its hover readout.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence

from .numbers import number

Points = Sequence[tuple[float, float]]
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 26, 30
LEGEND_CHAR_PX = 6.2  # about one character of the 11 px legend text


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


def _labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels: rounded like the page's numbers, with as many decimals as the tick spacing needs (ticks 0.005
    apart keep three decimals, so neighbours never read the same)."""
    if len(ticks) < 2:
        return [number(t) for t in ticks]
    spacing = min(abs(b - a) for a, b in zip(ticks, ticks[1:]))
    decimals = max(0, -math.floor(math.log10(spacing) + 1e-9)) if spacing > 0 else 0
    if decimals > 3 or max(abs(t) for t in ticks) >= 1e5:
        return [number(t) for t in ticks]
    return [f"{t:.{decimals}f}" for t in ticks]


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
    y_ticks = nice_ticks(y0, y1)
    for tick, label in zip(y_ticks, _labels(y_ticks)):
        y = py(tick)
        svg.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    x_ticks = nice_ticks(x0, x1)
    for tick, label in zip(x_ticks, _labels(x_ticks)):
        x = px(tick)
        svg.append(f'<text class="tick" x="{x:.1f}" y="{PAD_TOP + plot_h + 16}" text-anchor="middle">{label}</text>')
    lx, ly = PAD_LEFT + 8, PAD_TOP + 12
    for i, (name, pts) in enumerate(clean.items()):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        svg.append(f'<polyline class="curve" data-name="{html.escape(name, quote=True)}" points="{coords}" '
                   f'stroke="{color}"/>')
        if len(pts) == 1:
            svg.append(f'<circle cx="{px(pts[0][0]):.1f}" cy="{py(pts[0][1]):.1f}" r="3" fill="{color}"/>')
        room = 14 + LEGEND_CHAR_PX * len(name) + 12
        if lx > PAD_LEFT + 8 and lx + room > width - PAD_RIGHT:  # next legend line rather than past the edge
            lx, ly = PAD_LEFT + 8, ly + 13
        svg.append(f'<text class="legend" x="{lx + 14}" y="{ly}" fill="{color}">{html.escape(name)}</text>'
                   f'<rect x="{lx}" y="{ly - 7}" width="10" height="3" fill="{color}"/>')
        lx += room
    svg.append(f'<text class="axis" x="{PAD_LEFT + plot_w}" y="{height - 2}" text-anchor="end">step</text></g>')
    return head + "".join(svg) + "</svg></figure>"


# ---- standalone SVG figures of estimates with intervals (study tables: no plotting library) -------------------
#: one estimate: (point, low, high) of a 95 % interval
Estimate = tuple[float, float, float]
_FONT = 'font-family="sans-serif"'


def _axis(svg: list[str], low: float, high: float, to_px, vertical: bool, at: float, length: float) -> None:  # noqa: ANN001
    """Ticks and labels of one axis (``at``: the other coordinate of the axis line, ``length``: its extent)."""
    ticks = nice_ticks(low, high)
    for tick, label in zip(ticks, _labels(ticks)):
        p = to_px(tick)
        if vertical:
            svg.append(f'<line x1="{at}" x2="{at + length}" y1="{p:.1f}" y2="{p:.1f}" stroke="#ddd"/>'
                       f'<text x="{at - 4}" y="{p + 3:.1f}" text-anchor="end" font-size="9" {_FONT}>'
                       f"{label}</text>")
        else:
            svg.append(f'<line x1="{p:.1f}" x2="{p:.1f}" y1="{at}" y2="{at - length}" stroke="#ddd"/>'
                       f'<text x="{p:.1f}" y="{at + 12}" text-anchor="middle" font-size="9" {_FONT}>'
                       f"{label}</text>")


def _span(values: list[float], zero: bool) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)] + ([0.0] if zero else [])
    return _range(finite) if finite else (0.0, 1.0)


def interval_panel(rows: Sequence[tuple[str, Estimate]], title: str, width: int = 300, height: int = 300,
                   zero: bool = False) -> str:
    """One panel (an SVG ``<g>``): each labelled estimate as a dot with its interval, one column per row label,
    labels slanted under the axis; ``zero``: a line at 0 (differences)."""
    left, top, bottom, right = 40, 20, 90, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    y0, y1 = _span([v for _, e in rows for v in e], zero)

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    svg = [f'<text x="{left}" y="12" font-size="11" {_FONT}>{html.escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    _axis(svg, y0, y1, py, True, left, plot_w)
    if zero:
        svg.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(0):.1f}" y2="{py(0):.1f}" stroke="#666"/>')
    step = plot_w / max(len(rows), 1)
    for i, (name, (point, low, high)) in enumerate(rows):
        x = left + step * (i + 0.5)
        svg.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{py(low):.1f}" y2="{py(high):.1f}" stroke="#4c72b0" '
                   f'stroke-width="1.5"/><circle cx="{x:.1f}" cy="{py(point):.1f}" r="3" fill="#4c72b0">'
                   f"<title>{html.escape(name)}: {point:.1f} [{low:.1f}, {high:.1f}]</title></circle>"
                   f'<text transform="translate({x + 3:.1f},{top + plot_h + 8}) rotate(50)" font-size="9" {_FONT}>'
                   f"{html.escape(name)}</text>")
    return "".join(svg)


def scatter_panel(rows: Sequence[tuple[str, Estimate, Estimate]], xlabel: str, ylabel: str, width: int = 360,
                  height: int = 330) -> str:
    """One panel: each labelled (x, y) estimate with both intervals, lines at x = 0 and y = 0."""
    left, top, bottom, right = 44, 10, 40, 10
    plot_w, plot_h = width - left - right, height - top - bottom
    x0, x1 = _span([v for _, e, _ in rows for v in e], True)
    y0, y1 = _span([v for _, _, e in rows for v in e], True)

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    svg = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    _axis(svg, y0, y1, py, True, left, plot_w)
    _axis(svg, x0, x1, px, False, top + plot_h, plot_h)
    svg.append(f'<line x1="{px(0):.1f}" x2="{px(0):.1f}" y1="{top}" y2="{top + plot_h}" stroke="#666"/>'
               f'<line x1="{left}" x2="{left + plot_w}" y1="{py(0):.1f}" y2="{py(0):.1f}" stroke="#666"/>')
    for i, (name, (x, xl, xh), (y, yl, yh)) in enumerate(rows):
        color = PALETTE[i % len(PALETTE)]
        svg.append(f'<line x1="{px(xl):.1f}" x2="{px(xh):.1f}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="{color}"/>'
                   f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{py(yl):.1f}" y2="{py(yh):.1f}" stroke="{color}"/>'
                   f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"><title>{html.escape(name)}: '
                   f"{x:+.1f} [{xl:+.1f}, {xh:+.1f}], {y:+.1f} [{yl:+.1f}, {yh:+.1f}]</title></circle>"
                   f'<text x="{px(x) + 4:.1f}" y="{py(y) - 4:.1f}" font-size="9" fill="{color}" {_FONT}>'
                   f"{html.escape(name)}</text>")
    svg.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" font-size="10" {_FONT}>'
               f'{html.escape(xlabel)}</text><text transform="translate(11,{top + plot_h / 2}) rotate(-90)" '
               f'text-anchor="middle" font-size="10" {_FONT}>{html.escape(ylabel)}</text>')
    return "".join(svg)


def svg_figure(panels: Sequence[str], width: int, height: int, columns: int) -> str:
    """A standalone SVG file of ``panels`` (each ``width`` x ``height``) in rows of ``columns``."""
    rows = max(1, math.ceil(len(panels) / max(columns, 1)))
    total_w, total_h = width * min(columns, max(len(panels), 1)) + 60, height * rows  # room for slanted labels
    body = "".join(f'<g transform="translate({(i % columns) * width},{(i // columns) * height})">{p}</g>'
                   for i, p in enumerate(panels))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w} {total_h}" width="{total_w}" '
            f'height="{total_h}"><rect width="100%" height="100%" fill="white"/>{body}</svg>\n')
