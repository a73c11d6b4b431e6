"""A large JSONL training file is indexed, not loaded: memory holds a byte offset per line, not the rows."""

from __future__ import annotations

import json
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

from unigame_core.data.sources import jsonl_dataset

ROWS = 10_000


def test_a_10k_line_jsonl_is_indexed_not_loaded(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    line = '{{"image": "a.png", "question": "What colour is shape {i}, the one in the corner of the scene?", ' \
           '"answer": "red {i}"}}\n'
    path = tmp_path / "train.jsonl"
    path.write_text("".join(line.format(i=i) for i in range(ROWS)), encoding="utf-8")
    small = tmp_path / "small.jsonl"
    small.write_text(line.format(i=0), encoding="utf-8")
    jsonl_dataset(str(small))  # once untraced: what the first call imports and caches is not the data's
    tracemalloc.start()
    try:
        dataset = jsonl_dataset(str(path))
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size  # about 1.2 MB
    assert len(dataset) == ROWS
    assert held < 32 * ROWS and peak < size / 4, (held, peak, size)  # two 8-byte arrays (the rows took 550 B each)
    last = dataset[ROWS - 1]
    assert last["question"].startswith(f"What colour is shape {ROWS - 1},") and last["answer"] == f"red {ROWS - 1}"
    assert last["id"] == str(ROWS) and last["image"].shape == (3, 4, 4)  # default id: the line number
    assert len(pickle.dumps(dataset)) < 24 * ROWS  # what each data-loader worker receives


def test_the_index_reads_each_line_from_its_offset(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    rows = [{"image": "a.png", "question": "q\u2028one", "answer": "é"}, None,
            {"image": "a.png", "question": "two", "answers": ["b", "c", "b"], "id": 9}]
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(json.dumps(r, ensure_ascii=False) if r else "  " for r in rows)
                     .encode("utf-8"))
    dataset = jsonl_dataset(str(path))
    assert len(dataset) == 2
    assert (dataset[0]["id"], dataset[0]["question"], dataset[0]["answer"]) == ("1", "q\u2028one", "é")
    assert (dataset[1]["id"], dataset[1]["question"], dataset[1]["answer"]) == ("9", "two", "b")
