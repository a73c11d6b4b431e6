"""The standalone SVG figures of estimates with intervals (the studies' plots; no plotting library)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from unigame_core.report.charts import interval_panel, scatter_panel, svg_figure


def test_interval_panels_draw_one_dot_and_bar_per_row_in_a_valid_svg_file() -> None:
    rows = [("sft", (95.0, 94.0, 96.0)), ("full <gate>", (93.0, 90.0, 95.0))]
    diffs = [("full", (-2.0, -4.0, -0.5))]
    figure = svg_figure([interval_panel(rows, "test (clean), percent"), interval_panel(diffs, "minus sft", zero=True)],
                        300, 300, 2)
    root = ET.fromstring(figure)  # well-formed XML: names are escaped
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("width") == "660" and root.get("height") == "300"
    assert figure.count("<circle") == 3 and "full &lt;gate&gt;: 93.0 [90.0, 95.0]" in figure
    assert "minus sft" in figure and "test (clean), percent" in figure


def test_scatter_panels_place_points_by_both_estimates_with_zero_lines() -> None:
    rows = [("a", (-2.0, -3.0, -1.0), (1.0, 0.0, 2.0)), ("b", (1.0, 0.5, 1.5), (-1.0, -2.0, 0.0))]
    panel = scatter_panel(rows, "consistency minus control", "attack minus control")
    ET.fromstring(svg_figure([panel], 360, 330, 4))
    dots = [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', panel)]
    assert len(dots) == 2 and dots[0][0] < dots[1][0] and dots[0][1] < dots[1][1]  # a: left of b, and higher
    assert "a: -2.0 [-3.0, -1.0], +1.0 [+0.0, +2.0]" in panel and "consistency minus control" in panel
