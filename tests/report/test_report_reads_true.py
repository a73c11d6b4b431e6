"""report.html tells the truth: each sample row puts the adversary's decode next to the delta = 0 round trip,
with the question, the answer and the model's answers; the health summary says first whether the adversary
played; per-row figures are the logging window's (like the verdict); numbers are rounded for a reader; the page
fits 800 px; the header names the model's alias."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from headless_browser import chromium, headless
from PIL import Image

from unigame_core.report.page import render, write_report
from unigame_core.report.samples import COLUMNS

QUESTION, ANSWER = "what colour is the big shape?", "red"


def run_dir(root: Path, model: str = "fake-tiny", backend: str = "fake", *, eps: float = 0.5, idle: bool = False,
            grid: bool = True) -> Path:
    """A run directory as training leaves it now: windowed health figures and a three-column sample grid."""
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(f"model: '{model}'\nbackend:\n  name: {backend}\ngame:\n  coupling: decoder\n"
                                      f"  eps_max: {eps}\ntrain:\n  steps: 4\n")
    rows = []
    for step in range(1, 5):
        ce_rt = 2.0 + 0.1234567 * step
        gain = 0.0 if idle else 0.3456789
        rows.append({
            "step": step, "loss_u": 3.0 / step, "ce_clean": 2.0 / step, "ce_buffer": None, "adversary_step": step,
            "ce_adv": 7.77, "ce_round_trip": 1.0, "delta_norm": 0.7, "tokens_changed": 0.9,  # the latest turn's
            "ce_adv_window": ce_rt + gain, "ce_start_window": ce_rt, "ce_round_trip_window": ce_rt,
            "delta_norm_window": 0.0 if idle else 0.0312345, "delta_bound_window": 0.0 if idle else 0.0456789,
            "tokens_changed_window": 0.0 if idle else 0.1234567, "gate_pass_window": 0.8765432,
            "delta_saturation_window": None if idle else 0.25, "turns": 1,
            "gate_pass": 0.8765432, "eps": 0.0 if idle else eps, "samples_per_s": 123.456789, "buffer": step,
            "health_ok": idle is False and step != 2, "health_warnings": [] if step != 2 else ["adversary_weak"],
        })
    if idle:
        for row in rows:
            row["health_warnings"], row["health_ok"] = ["adversary_weak"], False
    (root / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    if grid:
        (root / "samples").mkdir()
        size, n = 16, 2
        strip = Image.new("RGB", (3 * size, n * size))
        for c, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
            strip.paste(colour, (c * size, 0, (c + 1) * size, n * size))
        strip.save(root / "samples" / "step-4.png")
        (root / "samples" / "step-4.json").write_text(json.dumps({
            "step": 4, "adversary_step": 3, "columns": list(COLUMNS),
            "rows": [{"question": QUESTION, "answer": ANSWER,
                      "answers": {"clean": "red", "round_trip": "red", "adversarial": "blue"}}] * n}))
    return root


def visible_text(page: str) -> str:
    """The text a reader sees: no style, script, collapsed config or attributes."""
    page = re.sub(r"<(style|script|details)\b.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def long_floats(text: str) -> list[str]:
    """Decimal numbers with more than 4 significant digits."""
    return [m for m in re.findall(r"\d*\.\d+(?:e[-+]?\d+)?", text)
            if len(m.split("e")[0].replace(".", "").lstrip("0")) > 4]


def test_each_sample_row_shows_clean_round_trip_and_adversarial_with_the_question_and_answers(tmp_path: Path) -> None:
    page = render(run_dir(tmp_path / "run"))
    rows = re.findall(r'<div class="sample-row">(.*?)</div></div>', page, flags=re.S)
    assert len(rows) == 2
    for row in rows:
        assert row.count("<img") == 3 and row.count("data:image/png;base64,") == 3
        for caption in ("clean", "round trip (delta = 0)", "adversarial decode"):
            assert caption in html.unescape(row), caption
        text = visible_text(row)
        assert QUESTION in text and f"answer: {ANSWER}" in text
        assert re.search(r"clean: red\W+round trip: red\W+adversarial: blue", text), text
    assert "adversary's turn at step 3" in visible_text(page)


def test_a_grid_from_before_the_round_trip_was_captured_still_shows(tmp_path: Path) -> None:
    run = run_dir(tmp_path / "run", grid=False)
    (run / "samples").mkdir()
    Image.new("RGB", (32, 64), (255, 0, 0)).save(run / "samples" / "step-4.png")
    page = render(run)
    assert page.count("data:image/png;base64,") == 1 and "no round trip" in visible_text(page)


def test_the_health_summary_first_says_whether_the_adversary_played(tmp_path: Path) -> None:
    idle = visible_text(render(run_dir(tmp_path / "idle", eps=0.0, idle=True)))
    first = idle.split("Game health", 1)[1].strip().split(". ")[0]
    assert first.startswith("The adversary was idle all run"), first
    assert "its images are the delta = 0 round trip" in idle and "+0 nats" in idle

    playing = visible_text(render(run_dir(tmp_path / "play")))
    first = playing.split("Game health", 1)[1].strip().split(". ")[0]
    assert first.startswith("The adversary played"), first
    assert "+0.346 nats above the delta = 0 round trip" in first  # the windows' mean, not the latest turn's
    assert "delta 0.0312 of its bound 0.0457 (68.4 %)" in first and "12.3 % of token ids changed" in first


def test_per_row_figures_are_the_windows_like_the_verdict(tmp_path: Path) -> None:
    page = render(run_dir(tmp_path / "run"))
    table = re.search(r'<table id="health-table">.*?</table>', page, flags=re.S)
    assert table is not None
    text = visible_text(table.group(0))
    assert "adversary_weak" in text and "2.59" in text and "2.25" in text and "87.7 %" in text  # step 2's window
    assert "7.77" not in text  # the latest turn's ce_adv is not the window's
    charted = json.loads(html.unescape(re.search(r'data-title="adversary CE[^"]*" data-series="([^"]*)"',
                                                  page).group(1)))
    assert charted["ce_adv"][0] == [1, 2.0 + 0.1234567 + 0.3456789]  # the window's mean, at the logged step


def test_numbers_are_rounded_for_a_reader(tmp_path: Path) -> None:
    run = run_dir(tmp_path / "run")
    (run / "before_after.json").write_text(json.dumps([
        {"suite": "shapes", "metric": "acc", "before": 0.6933333, "after": 0.7123456, "change": 0.0190123,
         "change_ci95": [0.05617977, 0.2380952], "verdict": "better"}]))
    text = visible_text(write_report(run).read_text())
    assert "[0.0562, 0.238]" in text and "0.693" in text and "0.6933" not in text
    assert long_floats(text) == [], long_floats(text)


def test_the_header_names_the_models_alias(tmp_path: Path) -> None:
    header = visible_text(render(run_dir(tmp_path / "alias", model="janus-pro-7b", backend="janus")))
    assert "model janus-pro-7b" in header
    default = visible_text(render(run_dir(tmp_path / "default", model="", backend="janus")))  # no --model
    assert "model shapes-tiny" in default and "model janus" not in default


@pytest.mark.slow
@pytest.mark.parametrize("width", [800, 1280])
def test_the_page_fits_the_window_and_its_numbers_stay_short_in_a_browser(tmp_path: Path, width: int) -> None:
    browser = chromium()
    run = run_dir(tmp_path / "a-run-directory-with-a-rather-long-name-that-has-no-spaces-in-it-at-all-0123456789")
    (run / "before_after.json").write_text(json.dumps([  # the columns eval.judge writes
        {"suite": "shapes-consistency", "metric": "consistency_rate", "before": 0.6933333, "after": 0.7123456,
         "n_before": 600, "n_after": 600, "before_ci95": [0.6561, 0.7301], "after_ci95": [0.6756, 0.7483],
         "change": 0.0190123, "change_ci95": [0.05617977, 0.2380952], "paired": True, "verdict": "no change"}]))
    page = write_report(run)
    probe = page.with_name("probe.html")  # the page, plus a line that writes its scroll width into the DOM
    probe.write_text(page.read_text().replace(
        "</body>", "<script>window.addEventListener('load', function () { document.body.setAttribute("
                   "'data-scroll-width', document.documentElement.scrollWidth); });</script></body>"))
    dom = headless(browser, f"--window-size={width},900", "--virtual-time-budget=2000", "--dump-dom",
                   probe.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-scroll-width="(\d+)"', dom.stdout)
    assert found is not None and int(found.group(1)) <= width, found
    text = visible_text(dom.stdout)
    assert "step 4: loss_u 0.75" in text  # the charts' readouts ran, and are rounded too
    assert long_floats(text) == [], long_floats(text)
