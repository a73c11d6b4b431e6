"""POPE (object-hallucination yes/no probing): answer parsing, metrics and the readers of two layouts.

Layouts (either, in ``<root>``):

* the official files (github.com/RUCAIBox/POPE, ``output/coco``): ``coco_pope_<category>.json``
  (JSON lines with ``question_id``, ``image``, ``text``, ``label``) and the COCO images in
  ``val2014/``;
* the Hugging Face parquet most users download (``lmms-lab/POPE``): ``data/test-*.parquet`` (or the
  ``Full/<category>-*.parquet`` files, or parquet files at the top of ``<root>``) with columns
  ``question``, ``answer``, ``category``, ``image`` (a ``{bytes, path}`` struct) and optionally
  ``question_id``, ``image_source``. Images stay encoded bytes until their batch runs.

When all official question files of the chosen categories are present they are used; otherwise the
parquet files are.

Parsing follows the official POPE ``evaluate.py`` convention:

1. keep only the text before the first ``'.'`` (the first sentence);
2. delete commas;
3. split on single spaces (``str.split(' ')``, as the official code does);
4. answer ``"no"`` if one of the words is exactly ``"No"``, ``"not"`` or ``"no"``,
   otherwise ``"yes"``.

Departures from the official script (each documented in docs/evaluation.md):

* an empty (or whitespace-only) answer is ``"no"``; the official rule makes it ``"yes"``, so a model
  that says nothing would score on the positive class;
* precision, recall and F1 are 0.0 when their denominator is zero (the official script divides by
  zero);
* a label other than ``yes``/``no`` is a data error (the official script counts anything but ``"no"``
  as ``"yes"``);
* a sample whose image cannot be decoded is scored as the wrong answer (``lm_metrics.pope_results``).

Metrics follow the official script with ``"yes"`` as the positive class; ``yes_ratio`` is
the share of *predictions* that are ``"yes"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from unigame_core.errors import DataError
from unigame_core.paths import data_file

from .items import DataLayoutError, EvalItem

__all__ = ["CATEGORIES", "PROMPT_SUFFIX", "check_pope", "parse_yes_no", "pope_metrics", "read_pope"]

CATEGORIES: tuple[str, ...] = ("random", "popular", "adversarial")
PROMPT_SUFFIX = "Answer the question using a single word or phrase."
_NEGATIVE_WORDS = frozenset({"No", "not", "no"})


def parse_yes_no(text: str) -> str:
    """Map a free-form model answer to ``"yes"`` or ``"no"`` (POPE convention, see module)."""
    if not text.strip():
        return "no"
    first = text.split(".")[0] if "." in text else text
    words = first.replace(",", "").split(" ")
    return "no" if _NEGATIVE_WORDS.intersection(words) else "yes"


def _label(value: str) -> str:
    label = value.strip().lower()
    if label not in ("yes", "no"):
        raise ValueError(f"POPE labels must be 'yes' or 'no', got {value!r}.")
    return label


def pope_metrics(preds: Sequence[str], labels: Sequence[str]) -> dict[str, float | int]:
    """Accuracy, precision, recall, F1, yes-ratio and confusion counts ("yes" is positive).

    ``preds`` may be raw model answers or already-parsed ``"yes"``/``"no"`` strings:
    each goes through :func:`parse_yes_no`, which is idempotent on ``"yes"``/``"no"``.
    Rates are in ``[0, 1]``; ``TP``, ``FP``, ``TN``, ``FN`` and ``n`` are integers.
    """
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions but {len(labels)} labels.")
    parsed = [parse_yes_no(p) for p in preds]
    gold = [_label(l) for l in labels]
    tp = sum(1 for p, g in zip(parsed, gold) if p == "yes" and g == "yes")
    fp = sum(1 for p, g in zip(parsed, gold) if p == "yes" and g == "no")
    tn = sum(1 for p, g in zip(parsed, gold) if p == "no" and g == "no")
    fn = sum(1 for p, g in zip(parsed, gold) if p == "no" and g == "yes")
    n = len(parsed)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": (tp + fp) / n if n else 0.0,
        "TP": tp,
        "FP": fp,
        "TN": tn,
        "FN": fn,
        "n": n,
    }


def _layout() -> str:
    return (
        "the official POPE layout <root>/coco_pope_{random,popular,adversarial}.json "
        "(JSON lines with question_id, image, text, label) and images <root>/val2014/<image>, "
        "or the Hugging Face parquet <root>/data/test-*.parquet (lmms-lab/POPE: question, answer, "
        "category, image)"
    )


def _read_json_lines(path: Path) -> Iterable[tuple[int, dict]]:
    """``(line number, object)`` of each non-blank line."""
    with path.open("r", encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if line.strip():
                yield n, json.loads(line)


def parquet_files(root: Path) -> list[Path]:
    """The POPE parquet files under ``root``: ``data/*.parquet``, else ``Full/*.parquet``, else ``*.parquet``.

    One group only, so a full download of the dataset repository (both configurations) is not read twice.
    """
    for folder in (root / "data", root / "Full", root):
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if files:
            return files
    return []


def _check_categories(categories: Sequence[str]) -> None:
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"Unknown POPE categories {unknown}; expected some of {CATEGORIES}.")


def _official_files(root: Path, categories: Sequence[str]) -> list[Path] | None:
    """The official question files of ``categories``, or None when one is missing and parquet files exist."""
    files = [root / f"coco_pope_{c}.json" for c in categories]
    missing = [path for path in files if not path.is_file()]
    if not missing:
        return files
    if parquet_files(root):
        return None
    raise DataLayoutError(missing[0], _layout())


def check_pope(root: Path, categories: Sequence[str] = CATEGORIES) -> None:
    """Check a POPE folder before the model loads: every file, image path (official layout) or column and
    category (parquet: images are not read). Raises :class:`DataLayoutError` / ``DataError``."""
    root = Path(root)
    _check_categories(categories)
    if _official_files(root, categories) is not None:
        read_pope(root, categories)
    else:
        for category in categories:
            if not _parquet_rows(root, category, with_images=False):
                raise DataError(f"The POPE parquet files in {root} hold no question of category '{category}'.",
                                "Choose the categories they hold with -O \"pope.categories=[...]\".")


def read_pope(
    root: Path,
    categories: Sequence[str] = CATEGORIES,
    limit: int | None = None,
) -> list[EvalItem]:
    """Read POPE questions from the official JSON lines or from the Hugging Face parquet (see the module).

    Categories are read in the given order and ``limit`` caps the total number of items.
    Each item's ``references`` is ``(label,)``, ``image`` the path under ``<root>/val2014`` (official)
    or the encoded image bytes (parquet), and ``meta`` holds ``category``, ``question_id``, ``label``
    and ``image_file``. Raises :class:`DataLayoutError` naming any missing file.
    """
    root = Path(root)
    _check_categories(categories)
    files = _official_files(root, categories)
    if files is None:
        return _read_parquet(root, categories, limit)
    image_dir = root / "val2014"
    if not image_dir.is_dir():
        raise DataLayoutError(image_dir, _layout())
    items: list[EvalItem] = []
    for category, path in zip(categories, files):
        for n, record in _read_json_lines(path):
            if limit is not None and len(items) >= limit:
                return items
            image = data_file(root, record["image"], f"{path} (line {n})", base=image_dir)
            if not image.is_file():
                raise DataLayoutError(image, _layout())
            items.append(_item(category, record["question_id"], record["text"], str(image),
                               _data_label(record["label"], path), record["image"]))
    return items


def _item(category: str, question_id: Any, question: str, image: str | bytes, label: str, image_file: str) -> EvalItem:
    return EvalItem(
        id=f"{category}/{question_id}",
        question=f"{question}\n{PROMPT_SUFFIX}",
        image=image,
        references=(label,),
        meta={"category": category, "question_id": question_id, "label": label, "image_file": image_file},
    )


def _data_label(value: Any, where: str | Path) -> str:
    try:
        return _label(str(value))
    except ValueError:
        raise DataError(f"{where}: POPE labels must be 'yes' or 'no', got {value!r}.") from None


_PARQUET_COLUMNS = ("question", "answer", "category")


def _parquet_rows(root: Path, category: str, *, with_images: bool) -> list[dict[str, Any]]:
    """The rows of ``category`` in file order; the ``image`` column is read only ``with_images``."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in parquet_files(root):
        names = pq.read_schema(path).names
        missing = [c for c in (*_PARQUET_COLUMNS, "image") if c not in names]
        if missing:
            raise DataError(f"{path} has no column '{missing[0]}': expected {_layout()}.")
        columns = [*_PARQUET_COLUMNS, *(c for c in ("question_id", "image_source") if c in names)]
        table = pq.read_table(path, columns=columns + (["image"] if with_images else []),
                              filters=[("category", "=", category)])
        for index, row in enumerate(table.to_pylist()):
            row["_where"] = f"{path} (row {index} of category '{category}')"
            rows.append(row)
    return rows


def _image_bytes(value: Any, root: Path, where: str) -> str | bytes:
    """The ``image`` cell: encoded bytes, or a path (relative to ``root``) when the struct holds no bytes."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)) and value:
        return bytes(value)
    if isinstance(value, str) and value and data_file(root, value, where).is_file():
        return str(data_file(root, value, where))
    raise DataError(f"{where} has no image bytes and no image file.", "Re-download the parquet files.")


def _read_parquet(root: Path, categories: Sequence[str], limit: int | None) -> list[EvalItem]:
    items: list[EvalItem] = []
    for category in categories:
        for k, row in enumerate(_parquet_rows(root, category, with_images=True)):
            if limit is not None and len(items) >= limit:
                return items
            where = row["_where"]
            question_id = row.get("question_id") or str(k + 1)
            items.append(_item(category, question_id, str(row["question"]), _image_bytes(row["image"], root, where),
                               _data_label(row["answer"], where), str(row.get("image_source") or "")))
    return items
