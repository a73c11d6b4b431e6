"""MMMU: prompt construction, answer parsing and scoring (official MMMU eval logic), reader.

Parsing mirrors ``MMMU/eval/utils/eval_utils.py``:

* multiple choice (:func:`parse_multi_choice_response`): strip ``, . ! ? ; : '`` from both
  ends (one character kind after the other), pad with spaces, then look for ``(A)`` forms,
  then `` A `` forms, then -- only if the response has more than 5 words -- the option
  texts themselves (case-insensitive). With several candidates the one occurring last wins.
  **Departure:** when nothing parses, the official code picks a *random* letter; here the
  sentinel ``""`` is returned, which never equals a gold letter, so scoring is deterministic
  and unparseable answers are always wrong.
* open answers (:func:`parse_open_response`): lower-case, split into sub-responses on new
  lines (the official ``'\\.\\s(?=[A-Z])'`` split never fires after lower-casing: kept), keep
  for each the shortest tail after an indicator (``could be``, ``so``, ``is``, ``thus``,
  ``therefore``, ``final``, ``answer``, ``result``; plus ``=`` for the last one), add every
  number found (comma-grouped, scientific, plain), then normalise: numbers become floats
  rounded to 2 decimals, strings are lower-cased and one-letter strings padded with a space.
  Duplicates are removed (order kept; the official ``set`` gives the same scores).

Accuracy values from :func:`mmmu_aggregate` are fractions in ``[0, 1]`` as MMMU reports them.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from unigame_core.errors import DataError
from unigame_core.paths import data_file

from .items import DataLayoutError, EvalItem

__all__ = [
    "MC_PROMPT", "OPEN_PROMPT", "SUBJECTS", "build_prompt", "check_mmmu", "eval_multi_choice",
    "eval_open", "extract_numbers", "mmmu_aggregate", "normalize_str", "parse_multi_choice_response",
    "parse_open_response", "read_mmmu", "score_response",
]

MC_PROMPT = "Answer with the option's letter from the given choices directly."
OPEN_PROMPT = "Answer the question using a single word or phrase."
SUBJECTS: tuple[str, ...] = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory",
    "Basic_Medical_Science", "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science",
    "Design", "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics",
    "Energy_and_Power", "Finance", "Geography", "History", "Literature", "Manage",
    "Marketing", "Materials", "Math", "Mechanical_Engineering", "Music", "Pharmacy",
    "Physics", "Psychology", "Public_Health", "Sociology",
)
_EDGE_PUNCT = (",", ".", "!", "?", ";", ":", "'")
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ",
                   "result ")
_NUM_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUM_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUM_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def build_prompt(question: str, options: Sequence[str], question_type: str) -> str:
    """The text shown to the model: question, lettered options and the answer instruction."""
    if question_type == "multiple-choice":
        lines = [f"({chr(ord('A') + i)}) {opt}" for i, opt in enumerate(options)]
        return f"{question}\n" + "\n".join(lines) + f"\n{MC_PROMPT}"
    return f"{question}\n{OPEN_PROMPT}"


def parse_multi_choice_response(
    response: str, all_choices: Sequence[str], index2ans: Mapping[str, str]
) -> str:
    """Extract the chosen letter from a free-form response; ``""`` when nothing parses."""
    for char in _EDGE_PUNCT:
        response = response.strip(char)
    response = f" {response} "
    candidates: list[str] = []
    with_brackets = False
    by_content = False
    for choice in all_choices:
        if f"({choice})" in response:
            candidates.append(choice)
            with_brackets = True
    if not candidates:
        candidates = [c for c in all_choices if f" {c} " in response]
    if not candidates and len(response.split()) > 5:
        lowered = response.lower()
        for index, answer in index2ans.items():
            if answer.lower() in lowered:
                candidates.append(index)
                by_content = True
    if not candidates:
        return ""
    if len(candidates) == 1:
        return candidates[0]
    if by_content:
        positions = [response.lower().rfind(index2ans[c].lower()) for c in candidates]
    elif with_brackets:
        positions = [response.rfind(f"({c})") for c in candidates]
    else:
        positions = [response.rfind(f" {c} ") for c in candidates]
    return candidates[max(range(len(candidates)), key=positions.__getitem__)]


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize_str(text: str) -> list[str | float]:
    """Official normalisation: a number -> ``[round(float, 2)]``; a string -> lower-cased,
    one-character strings as ``[" x", "x "]`` to avoid partial matches."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    if len(text) == 1:
        return [" " + text, text + " "]
    return [text]


def extract_numbers(text: str) -> list[str]:
    """All numbers in ``text``: comma-grouped, then scientific, then plain ones."""
    return (_NUM_COMMAS.findall(text) + _NUM_SCIENTIFIC.findall(text)
            + _NUM_SIMPLE.findall(text))


def _key_subresponses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    subs = re.split(r"\.\s(?=[A-Z])|\n", response)
    keys: list[str] = []
    for index, sub in enumerate(subs):
        indicators = _KEY_INDICATORS + (("=",) if index == len(subs) - 1 else ())
        shortest: str | None = None
        for indicator in indicators:
            if indicator in sub:
                tail = sub.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _EDGE_PUNCT:
            keys.append(shortest)
    return keys or [response]


def parse_open_response(response: str) -> list[str | float]:
    """Candidate answers (normalised strings and floats) from a free-form response."""
    keys = _key_subresponses(response)
    raw: list[str] = list(keys)
    for key in keys:
        raw.extend(extract_numbers(key))
    out: list[str | float] = []
    for candidate in raw:
        for value in normalize_str(candidate):
            if value not in out:
                out.append(value)
    return out


def eval_multi_choice(gold: str | Sequence[str], pred: str) -> bool:
    """True when the parsed letter equals the gold letter (or one of them)."""
    if isinstance(gold, str):
        return gold == pred
    return pred in gold


def eval_open(gold: str | Sequence[str], pred_list: Sequence[str | float]) -> bool:
    """Official open-answer match: a string prediction must *contain* a normalised gold
    string; a numeric prediction must *equal* a normalised gold number."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    norm: list[str | float] = [v for g in golds for v in normalize_str(g)]
    for pred in pred_list:
        if isinstance(pred, str):
            if any(isinstance(n, str) and n in pred for n in norm):
                return True
        elif pred in norm:
            return True
    return False


def score_response(item: EvalItem, response: str) -> bool:
    """Parse ``response`` for an item from :func:`read_mmmu` and score it."""
    gold = item.references[0] if len(item.references) == 1 else list(item.references)
    if item.meta.get("question_type") == "multiple-choice":
        pred = parse_multi_choice_response(
            response, item.meta["all_choices"], item.meta["index2ans"])
        return eval_multi_choice(gold, pred)
    return eval_open(gold, parse_open_response(response))


def _subject_of(record: Mapping[str, Any]) -> str:
    if record.get("subject"):
        return str(record["subject"])
    parts = str(record.get("id", "")).split("_")  # e.g. validation_Art_Theory_12
    return "_".join(parts[1:-1]) or "unknown"


def mmmu_aggregate(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Overall and per-subject accuracy (fractions) of records with ``correct`` and
    ``subject`` (or an MMMU ``id`` such as ``validation_Art_Theory_12``).

    Returns ``{"overall": float, "num": int, "per_subject": {subject: float},
    "per_subject_num": {subject: int}}``.
    """
    hits: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        hits[_subject_of(record)].append(bool(record["correct"]))
    flat = [h for values in hits.values() for h in values]
    return {
        "overall": sum(flat) / len(flat) if flat else 0.0,
        "num": len(flat),
        "per_subject": {s: sum(v) / len(v) for s, v in sorted(hits.items())},
        "per_subject_num": {s: len(v) for s, v in sorted(hits.items())},
    }


def _layout(split: str) -> str:
    return (f"the official MMMU layout <root>/<Subject>/{split}-00000-of-00001.parquet "
            f"for subjects such as {', '.join(SUBJECTS[:3])}")


def _literal_list(value: Any) -> list[str] | None:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return None


def _image_of(cell: Any, root: Path, where: str) -> bytes | str | None:
    """An image cell: its encoded bytes, else its path (relative to ``root``, kept inside it), else None."""
    if not cell:
        return None
    if cell.get("bytes"):
        return cell["bytes"]
    return str(data_file(root, cell["path"], where)) if cell.get("path") else None


_REQUIRED = ("id", "question", "options", "answer", "question_type", "image_1")


def read_mmmu(root: Path, split: str = "validation", subjects: Sequence[str] | None = None,
              limit: int | None = None) -> list[EvalItem]:
    """Read MMMU items from ``<root>/<Subject>/<split>-*.parquet`` (subjects sorted by name).

    ``image`` is ``image_1``'s encoded bytes; ``meta`` holds ``subject``, ``question_type``,
    ``options``, ``all_choices``, ``index2ans``, ``num_images``, ``subfield``,
    ``topic_difficulty``, ``img_type`` and the raw ``answer``; ``<image k>`` tokens stay in
    the text. ``references`` is the gold letter(s) or the accepted open answers.
    """
    import pyarrow.parquet as pq

    root = Path(root)
    files = sorted(root.glob(f"*/{split}-*.parquet"))
    if subjects is not None:
        wanted = set(subjects)
        files = [f for f in files if f.parent.name in wanted]
        for subject in sorted(wanted - {f.parent.name for f in files}):
            raise DataLayoutError(root / subject / f"{split}-00000-of-00001.parquet",
                                  _layout(split))
    if not files:
        raise DataLayoutError(root / "<Subject>" / f"{split}-00000-of-00001.parquet",
                              _layout(split))
    items: list[EvalItem] = []
    for path in files:
        table = pq.read_table(path)
        missing = [c for c in _REQUIRED if c not in table.column_names]
        if missing:
            raise DataError(f"MMMU file {path} lacks the columns {missing}: expected "
                            f"{_layout(split)} with the official columns.")
        for index, row in enumerate(table.to_pylist()):
            if limit is not None and len(items) >= limit:
                return items
            where = f"{path} (row {index})"
            options = _literal_list(row["options"]) or []
            qtype = row["question_type"] or "open"
            letters = [chr(ord("A") + i) for i in range(len(options))]
            references = _literal_list(row["answer"]) or [str(row["answer"])]
            images = [row.get(f"image_{k}") for k in range(1, 8)]
            items.append(EvalItem(
                id=str(row["id"]),
                question=build_prompt(row["question"], options, qtype),
                image=_image_of(row["image_1"], root, where),
                references=tuple(references),
                meta={
                    "subject": path.parent.name,
                    "question_type": qtype,
                    "options": options,
                    "all_choices": letters,
                    "index2ans": dict(zip(letters, options)),
                    "num_images": sum(1 for cell in images if cell and (cell.get("bytes") or cell.get("path"))),
                    "subfield": row.get("subfield"),
                    "topic_difficulty": row.get("topic_difficulty"),
                    "img_type": row.get("img_type"),
                    "answer": row["answer"],
                },
            ))
    return items


def check_mmmu(root: Path, split: str = "validation") -> list[Path]:
    """Check the layout without reading rows: the parquet files exist and carry the official columns.

    Returns the files found; raises :class:`DataLayoutError` / ``DataError`` like :func:`read_mmmu`.
    """
    import pyarrow.parquet as pq

    root = Path(root)
    files = sorted(root.glob(f"*/{split}-*.parquet"))
    if not files:
        raise DataLayoutError(root / "<Subject>" / f"{split}-00000-of-00001.parquet", _layout(split))
    for path in files:
        missing = [c for c in _REQUIRED if c not in pq.read_schema(path).names]
        if missing:
            raise DataError(f"MMMU file {path} lacks the columns {missing}: expected "
                            f"{_layout(split)} with the official columns.")
    return files
