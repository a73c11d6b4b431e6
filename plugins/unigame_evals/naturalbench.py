"""NaturalBench (NeurIPS 2024): the official answer extraction and metrics, and the readers of its two layouts.

A NaturalBench *group* is two questions asked about two images, chosen so that the answers differ across
the images: four (image, question) *pairs*, named in the official order ``q0_i0, q0_i1, q1_i0, q1_i1``
(question 0 on image 0, question 0 on image 1, ...). Each pair is one sample shown to the model.

Layouts (either, in ``<root>``; ``data/*.parquet``, else ``*.parquet`` at the top of the folder):

* the release (huggingface.co/datasets/BaiqiL/NaturalBench, ``data/train-*.parquet``): one row per group
  with ``Image_0``, ``Image_1`` (``{bytes, path}`` structs, as ``datasets`` writes images), ``Question_0``,
  ``Question_1``, the four answers ``Image_0_Question_0``, ``Image_1_Question_0``, ``Image_0_Question_1``,
  ``Image_1_Question_1``, ``Question_Type`` (``Question Type`` in early copies) and optionally ``Index``;
* its lmms-eval export (huggingface.co/datasets/BaiqiL/NaturalBench-lmms-eval, ``data/test-*.parquet``):
  one row per pair with ``Index`` (``4 * group + k``, ``k`` the pair's place in the official order),
  ``Image``, ``Question``, ``Question_Type`` and ``Answer``.

A file's layout is told by its columns; when files of both layouts are present, only the release is read.
A pair's id is ``<group>/<pair>`` in both layouts: the release's group is its ``Index`` (its row number when
it has none), the export's is ``Index // 4``.

Prompt (lmms-eval's ``naturalbench_doc_to_text``): the question, a space, and ``PROMPT_SUFFIX`` of its type.

Answer extraction (the official ``extract_answer``): ``yes`` and ``no`` (yes/no questions) or ``A`` and
``B`` (multiple choice) are searched as whole words (``\\b`` on both sides), ignoring case, and the one
found first in the text wins; when neither is found the answer is ``""`` and counts as wrong. So the
article ``a`` reads as the letter ``A``, and ``"B-side"`` holds the word ``B``, as in the official code.

Metrics (the official ``get_scores``), fractions in ``[0, 1]``:

* ``acc``: the share of pairs answered right;
* ``q_acc``: the share of questions answered right on both images (two per group);
* ``i_acc``: the share of images whose two questions are both answered right (two per group);
* ``g_acc``: the share of groups whose four pairs are all answered right.

A pair is right when the extracted answer equals its ground-truth answer from the files. The official
``get_scores`` does not read the answers: it assumes ``Yes/A, No/B, No/B, Yes/A`` in the official order,
as the release is built, so on such data both agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unigame_core.errors import DataError
from unigame_core.paths import data_file

from .items import DataLayoutError, EvalItem

__all__ = [
    "METRICS",
    "PAIRS",
    "PROMPT_SUFFIX",
    "QUESTION_TYPES",
    "GroupScore",
    "check_naturalbench",
    "extract_answer",
    "gold_answer",
    "group_rows",
    "layout_of",
    "naturalbench_metrics",
    "read_naturalbench",
    "score_groups",
    "whole_groups",
]

QUESTION_TYPES = ("yes_no", "multiple_choice")
PROMPT_SUFFIX = {
    "yes_no": "Please answer Yes or No.",
    "multiple_choice": "Please output the letter corresponding to the correct option.",
}
PAIRS = ("q0_i0", "q0_i1", "q1_i0", "q1_i1")  # the official order of a group's four pairs
METRICS = ("acc", "q_acc", "i_acc", "g_acc")
RELEASE, EXPORT = "release", "lmms-eval"
_CHOICES = {"yes_no": ("yes", "no"), "multiple_choice": ("A", "B")}
_ANSWER_COLUMN = {"q0_i0": "Image_0_Question_0", "q0_i1": "Image_1_Question_0",
                  "q1_i0": "Image_0_Question_1", "q1_i1": "Image_1_Question_1"}
_TYPE_COLUMNS = ("Question_Type", "Question Type")
_EXPORT_COLUMNS = ("Index", "Question", "Question_Type", "Answer")
_WHOLE_GROUPS = "NaturalBench scores whole groups, so every group needs all four (image, question) pairs"


# ---------------------------------------------------------------- answers
def extract_answer(text: str, question_type: str) -> str:
    """The official extraction: ``"yes"``/``"no"`` or ``"A"``/``"B"``, whichever is found first; ``""`` if none."""
    found = []
    for choice in _CHOICES[question_type]:
        match = re.search(rf"\b{choice}\b", text, re.IGNORECASE)
        if match:
            found.append((match.start(), choice))
    return min(found)[1] if found else ""


def gold_answer(value: Any, question_type: str, where: str) -> str:
    """A ground-truth answer as :func:`extract_answer` spells it (``"Yes"`` -> ``"yes"``); DataError otherwise."""
    choices = _CHOICES[question_type]
    text = value.strip() if isinstance(value, str) else ""
    canonical = text.lower() if question_type == "yes_no" else text.upper()
    if canonical not in choices:
        raise DataError(f"{where}: a {question_type} answer must be {' or '.join(choices)}, got {value!r}.")
    return canonical


def _question_type(value: Any, where: str) -> str:
    if value not in QUESTION_TYPES:
        raise DataError(f"{where}: Question_Type must be {' or '.join(QUESTION_TYPES)}, got {value!r}.")
    return str(value)


# ---------------------------------------------------------------- metrics
@dataclass(frozen=True)
class GroupScore:
    """One group's share of questions and of images answered right, and whether all four pairs were."""

    group: str
    questions: float
    images: float
    all_right: bool


def score_groups(records: Iterable[Mapping[str, Any]]) -> list[GroupScore]:
    """Per group, in order of appearance, from per-pair records holding ``group``, ``pair`` and ``score``.

    A pair is right when its score is 1. A group without exactly its four pairs is a DataError.
    """
    by_group: dict[str, dict[str, bool]] = {}
    for record in records:
        pairs = by_group.setdefault(str(record["group"]), {})
        if record["pair"] in pairs:
            raise DataError(f"NaturalBench group {record['group']} has its pair {record['pair']} twice.")
        pairs[str(record["pair"])] = float(record["score"]) >= 1.0
    scores = []
    for group, right in by_group.items():
        missing = [pair for pair in PAIRS if pair not in right]
        if missing:
            raise DataError(f"NaturalBench group {group} has {4 - len(missing)} of its 4 (image, question) pairs "
                            f"(no {', '.join(missing)}): {_WHOLE_GROUPS}.",
                            "With --limit, give a multiple of 4.")
        questions = [right["q0_i0"] and right["q0_i1"], right["q1_i0"] and right["q1_i1"]]
        images = [right["q0_i0"] and right["q1_i0"], right["q0_i1"] and right["q1_i1"]]
        scores.append(GroupScore(group, sum(questions) / 2, sum(images) / 2, all(right.values())))
    return scores


def naturalbench_metrics(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """``acc`` over the pairs, ``q_acc``, ``i_acc`` and ``g_acc`` over the groups (0.0 when there are none)."""
    records = list(records)
    groups = score_groups(records)
    if not groups:
        return dict.fromkeys(METRICS, 0.0)
    n = len(groups)
    return {
        "acc": sum(float(r["score"]) >= 1.0 for r in records) / len(records),
        "q_acc": sum(g.questions for g in groups) / n,
        "i_acc": sum(g.images for g in groups) / n,
        "g_acc": sum(g.all_right for g in groups) / n,
    }


def group_rows(pair_rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Three prediction rows per group (``level`` ``questions``, ``images``, ``group``; ``id`` the group), whose
    ``score``s average to ``q_acc``, ``i_acc`` and ``g_acc``: the group is the unit of their intervals."""
    rows = []
    for g in score_groups(pair_rows):
        for level, score in (("questions", g.questions), ("images", g.images), ("group", float(g.all_right))):
            rows.append({"id": g.group, "level": level, "score": score})
    return rows


def whole_groups(limit: int | None) -> int | None:
    """A ``--limit`` in samples rounded up to whole groups: ``4 * ceil(limit / 4)`` pairs."""
    return None if limit is None else 4 * math.ceil(limit / 4)


# ---------------------------------------------------------------- files
def _layout() -> str:
    return ("the NaturalBench release <root>/data/train-*.parquet (BaiqiL/NaturalBench: Image_0, Image_1, "
            "Question_0, Question_1, the four answers, Question_Type) or its lmms-eval export "
            "<root>/data/test-*.parquet (BaiqiL/NaturalBench-lmms-eval: Index, Image, Question, Question_Type, "
            "Answer)")


def _parquet_files(root: Path) -> list[Path]:
    for folder in (root / "data", root):
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if files:
            return files
    raise DataLayoutError(root / "data" / "train-00000-of-00001.parquet", _layout())


def _files(root: Path) -> tuple[str, list[Path]]:
    """The layout read and its files: the release's when any is present, else the export's."""
    import pyarrow.parquet as pq

    found: dict[str, list[Path]] = {RELEASE: [], EXPORT: []}
    for path in _parquet_files(root):
        names = pq.read_schema(path).names
        if "Image_0" in names:
            found[RELEASE].append(path)
        elif "Image" in names:
            found[EXPORT].append(path)
        else:
            raise DataError(f"{path} has neither an 'Image_0' nor an 'Image' column: expected {_layout()}.")
    return (RELEASE, found[RELEASE]) if found[RELEASE] else (EXPORT, found[EXPORT])


def layout_of(root: Path) -> str:
    """``"release"`` or ``"lmms-eval"``: the layout :func:`read_naturalbench` reads in ``root``."""
    return _files(Path(root))[0]


def _image(cell: Any, root: Path, where: str, column: str) -> str | bytes:
    """An image cell (``{bytes, path}``, bytes or a path under ``root``): encoded bytes or a file path."""
    if isinstance(cell, dict):
        cell = cell.get("bytes") or cell.get("path")
    if isinstance(cell, (bytes, bytearray)) and cell:
        return bytes(cell)
    if isinstance(cell, str) and cell and data_file(root, cell, where).is_file():
        return str(data_file(root, cell, where))
    raise DataError(f"{where} has no {column} (no image bytes and no image file): {_WHOLE_GROUPS}.")


def _text(row: Mapping[str, Any], column: str, where: str) -> str:
    value = row.get(column)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where} has no {column}: {_WHOLE_GROUPS}.")
    return value


def _item(group: str, pair: str, question: str, question_type: str, answer: Any, image: str | bytes | None,
          where: str, answer_column: str) -> EvalItem:
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        raise DataError(f"{where} has no {answer_column}: {_WHOLE_GROUPS}.")
    gold = gold_answer(answer, question_type, where)
    return EvalItem(id=f"{group}/{pair}", question=f"{question} {PROMPT_SUFFIX[question_type]}", image=image,
                    references=(str(answer).strip(),),
                    meta={"group": group, "pair": pair, "question_type": question_type, "answer": gold})


def _read_release(root: Path, files: list[Path], groups: int | None, with_images: bool) -> list[EvalItem]:
    import pyarrow.parquet as pq

    items: list[EvalItem] = []
    seen: set[str] = set()
    for path in files:
        names = pq.read_schema(path).names
        type_column = next((c for c in _TYPE_COLUMNS if c in names), None)
        required = ["Question_0", "Question_1", *_ANSWER_COLUMN.values(), "Image_1"]
        missing = [c for c in required if c not in names] + ([] if type_column else ["Question_Type"])
        if missing:
            raise DataError(f"{path} has no column '{missing[0]}': expected {_layout()}.")
        columns = [c for c in names if c not in ("Image_0", "Image_1") or with_images]
        for k, row in enumerate(pq.read_table(path, columns=columns).to_pylist()):
            if groups is not None and len(seen) >= groups:
                return items
            where = f"{path} (row {k})"
            group = str(row["Index"]) if row.get("Index") is not None else str(len(seen))
            if group in seen:
                raise DataError(f"{where}: NaturalBench group {group} appears twice.")
            seen.add(group)
            question_type = _question_type(row[type_column], where)
            for pair in PAIRS:
                q, i = pair[1], pair[4]  # "q<question>_i<image>"
                question = _text(row, f"Question_{q}", where)
                image = _image(row.get(f"Image_{i}"), root, where, f"Image_{i}") if with_images else None
                items.append(_item(group, pair, question, question_type, row[_ANSWER_COLUMN[pair]], image, where,
                                   _ANSWER_COLUMN[pair]))
    return items


def _read_export(root: Path, files: list[Path], groups: int | None, with_images: bool) -> list[EvalItem]:
    import pyarrow.parquet as pq

    by_group: dict[str, dict[str, EvalItem]] = {}
    for path in files:
        names = pq.read_schema(path).names
        missing = [c for c in _EXPORT_COLUMNS if c not in names]
        if missing:
            raise DataError(f"{path} has no column '{missing[0]}': expected {_layout()}.")
        columns = [*_EXPORT_COLUMNS, *(["Image"] if with_images else [])]
        for k, row in enumerate(pq.read_table(path, columns=columns).to_pylist()):
            index = row["Index"]
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise DataError(f"{path} (Index {index!r}, row {k}): Index must be a non-negative integer.")
            where = f"{path} (Index {index})"
            group, pair = str(index // 4), PAIRS[index % 4]
            pairs = by_group.setdefault(group, {})
            if pair in pairs:
                raise DataError(f"{where}: Index {index} appears twice.")
            image = _image(row.get("Image"), root, where, "Image") if with_images else None
            pairs[pair] = _item(group, pair, _text(row, "Question", where),
                                _question_type(row["Question_Type"], where), row["Answer"], image, where, "Answer")
    items: list[EvalItem] = []
    for group, pairs in list(by_group.items())[:groups]:
        missing = [p for p in PAIRS if p not in pairs]
        if missing:
            first = 4 * int(group)
            raise DataError(f"NaturalBench group {group} in {root} has {4 - len(missing)} of its 4 (image, question) "
                            f"pairs (Index {first}-{first + 3}, no {', '.join(missing)}): {_WHOLE_GROUPS}.")
        items += [pairs[p] for p in PAIRS]
    return items


def read_naturalbench(root: Path, groups: int | None = None, *, with_images: bool = True) -> list[EvalItem]:
    """The pairs of the first ``groups`` groups (all by default), four per group in the official order.

    Each item's ``id`` is ``<group>/<pair>``, ``question`` the prompt, ``image`` the encoded bytes (or a file
    path; ``None`` unless ``with_images``), ``references`` the ground-truth answer as written, and ``meta``
    holds ``group``, ``pair``, ``question_type`` and ``answer`` (as :func:`extract_answer` spells it).
    A group without all four pairs (a missing question, answer or image) is a DataError naming it.
    """
    root = Path(root)
    layout, files = _files(root)
    read = _read_release if layout == RELEASE else _read_export
    return read(root, files, groups, with_images)


def check_naturalbench(root: Path) -> None:
    """Every file, column, group and answer, before the model loads (images are not read)."""
    read_naturalbench(root, with_images=False)
