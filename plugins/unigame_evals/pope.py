"""POPE (object-hallucination yes/no probing): answer parsing, metrics and official-layout reader.

Parsing follows the official POPE ``evaluate.py`` convention:

1. keep only the text before the first ``'.'`` (the first sentence);
2. delete commas;
3. split on single spaces (``str.split(' ')``, as the official code does);
4. answer ``"no"`` if one of the words is exactly ``"No"``, ``"not"`` or ``"no"``,
   otherwise ``"yes"``.

Departure: the official rule maps an empty answer to ``"yes"``; here an empty (or
whitespace-only) answer is ``"no"``, so a silent model cannot score on the positive class.

Metrics follow the official script with ``"yes"`` as the positive class; ``yes_ratio`` is
the share of *predictions* that are ``"yes"``. Precision, recall and F1 are 0.0 when their
denominator is zero (the official script would divide by zero).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

from .items import DataLayoutError, EvalItem

__all__ = ["CATEGORIES", "PROMPT_SUFFIX", "parse_yes_no", "pope_metrics", "read_pope"]

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
        "(JSON lines with question_id, image, text, label) and images <root>/val2014/<image>"
    )


def _read_json_lines(path: Path) -> Iterable[dict]:
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_pope(
    root: Path,
    categories: Sequence[str] = CATEGORIES,
    limit: int | None = None,
) -> list[EvalItem]:
    """Read POPE questions from ``<root>/coco_pope_<category>.json`` (JSON lines).

    Categories are read in the given order and ``limit`` caps the total number of items.
    Each item's ``references`` is ``(label,)``, ``image`` the path under ``<root>/val2014``
    and ``meta`` holds ``category``, ``question_id``, ``label`` and ``image_file``.
    Raises :class:`DataLayoutError` naming any missing file.
    """
    root = Path(root)
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"Unknown POPE categories {unknown}; expected some of {CATEGORIES}.")
    files = [root / f"coco_pope_{c}.json" for c in categories]
    for path in files:
        if not path.is_file():
            raise DataLayoutError(path, _layout())
    image_dir = root / "val2014"
    if not image_dir.is_dir():
        raise DataLayoutError(image_dir, _layout())
    items: list[EvalItem] = []
    for category, path in zip(categories, files):
        for record in _read_json_lines(path):
            if limit is not None and len(items) >= limit:
                return items
            image = image_dir / record["image"]
            if not image.is_file():
                raise DataLayoutError(image, _layout())
            label = _label(str(record["label"]))
            items.append(
                EvalItem(
                    id=f"{category}/{record['question_id']}",
                    question=f"{record['text']}\n{PROMPT_SUFFIX}",
                    image=str(image),
                    references=(label,),
                    meta={
                        "category": category,
                        "question_id": record["question_id"],
                        "label": label,
                        "image_file": record["image"],
                    },
                )
            )
    return items
