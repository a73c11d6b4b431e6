"""Reading training records strictly: every wrong byte, line or field is a ``DataError`` naming where it is.

What a record may hold is decided here, once (docs/training.md, "Training data"). Nothing is coerced:
``str(None)`` would train the model to answer "None", ``str(["a", "b"])`` to answer "['a', 'b']". A value
of the wrong type is an error naming the file, the line (JSONL) or the entry (VQAv2 JSON) and the key.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..paths import check_regular

JSONL_HINT = (
    "Each line is a JSON object with 'image' (a path), 'question' (a string) and 'answer' (a string) or "
    "'answers' (a list of strings); see docs/training.md."
)


def describe(value: Any) -> str:
    """A JSON value's type in JSON's own words, with the value when it is short (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    return "a list" if isinstance(value, list) else "an object"


def jsonl_lines(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """``(line number, byte offset of the line, object)`` for every non-blank line, read one line at a time
    (memory does not grow with the file). Bytes are split on ``\\n`` only (a JSON string may hold U+2028,
    which ``str.splitlines`` would break), each line decoded as UTF-8 by itself."""
    check_regular(path, "Training file")
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise DataError(f"Cannot read training file '{path}': {exc.strerror or exc}.") from exc
    with handle:
        offset = 0
        try:
            for n, line in enumerate(handle, start=1):
                row = jsonl_object(line, n, path)
                if row is not None:
                    yield n, offset, row
                offset += len(line)
        except OSError as exc:
            raise DataError(f"Cannot read training file '{path}': {exc.strerror or exc}.") from exc


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line (see :func:`jsonl_lines`)."""
    for n, _, row in jsonl_lines(path):
        yield n, row


def jsonl_object(line: bytes, n: int, path: Path) -> dict[str, Any] | None:
    """Line ``n`` of ``path`` (its bytes) -> its JSON object (None for a blank line); a DataError naming the
    line otherwise."""
    try:
        text = line.decode("utf-8-sig" if n == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"Line {n} of '{path}' is not valid UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1}).",
            "Save the file as UTF-8.",
        ) from exc
    if not text.strip():
        return None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"Line {n} of '{path}' is not valid JSON ({exc.msg} at column {exc.colno}).",
                        JSONL_HINT) from exc
    if not isinstance(row, dict):
        raise DataError(f"Line {n} of '{path}' is {describe(row)}, not a JSON object.", JSONL_HINT)
    return row


def string_field(row: dict[str, Any], key: str, where: str, *, blank: bool = True, hint: str | None = None) -> str:
    """``row[key]`` when it is a string (non-blank unless ``blank``); else a DataError naming ``where`` and key."""
    if key not in row:
        raise DataError(f"{where} has no '{key}'.", hint)
    value = row[key]
    if not isinstance(value, str):
        raise DataError(f"{where}: '{key}' must be a string, got {describe(value)}.", hint)
    if not blank and not value.strip():
        raise DataError(f"{where}: '{key}' must not be empty.", hint)
    return value


def jsonl_answer(row: dict[str, Any], where: str) -> str:
    """``answer`` (a non-empty string), else the most frequent of ``answers``.

    ``answers`` is a non-empty list of strings or of VQA-style objects ``{"answer": str, ...}``; ties go
    to the answer listed first. When both keys are present ``answer`` is the target.
    """
    if "answer" in row or "answers" not in row:
        return string_field(row, "answer", where, blank=False, hint=JSONL_HINT)
    answers = row["answers"]
    if not isinstance(answers, list) or not answers:
        got = "an empty list" if isinstance(answers, list) else describe(answers)
        raise DataError(f"{where}: 'answers' must be a non-empty list of strings, got {got}.", JSONL_HINT)
    texts = []
    for i, item in enumerate(answers):
        if isinstance(item, dict):
            item = string_field(item, "answer", f"{where}, answers[{i}]", blank=False, hint=JSONL_HINT)
        elif not isinstance(item, str) or not item.strip():
            raise DataError(f"{where}: answers[{i}] must be a non-empty string, got {describe(item)}.", JSONL_HINT)
        texts.append(item)
    return Counter(texts).most_common(1)[0][0]


def record_id(row: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    """An id: a string or an integer (never a boolean, a float or null)."""
    if key not in row and default is not None:
        return default
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: '{key}' must be a string or an integer, got {describe(value)}.")
    return str(value)


def integer_field(row: dict[str, Any], key: str, where: str) -> int:
    if key not in row:
        raise DataError(f"{where} has no '{key}'.")
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{where}: '{key}' must be an integer, got {describe(value)}.")
    return value


def json_list(path: Path, key: str) -> list[dict[str, Any]]:
    """The list of objects under ``key`` of a JSON file (the official VQAv2 files): every failure names the file."""
    check_regular(path, "Data file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataError(f"Cannot read '{path}': {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"'{path}' is not valid UTF-8 (byte offset {exc.start}).", "Save the file as UTF-8.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"'{path}' is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from exc
    if not isinstance(data, dict) or key not in data:
        top = f"an object with keys {sorted(data)[:5]}" if isinstance(data, dict) else describe(data)
        raise DataError(f"'{path}' has no '{key}' list (its top level is {top}).",
                        "Expected the official VQAv2 file; see docs/training.md.")
    items = data[key]
    if not isinstance(items, list):
        raise DataError(f"'{path}': '{key}' must be a list, got {describe(items)}.")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise DataError(f"'{path}': {key}[{i}] must be an object, got {describe(item)}.")
    return items
