"""Built-in training-data sources: JSON lines and the official VQAv2 layout."""

from __future__ import annotations

import logging
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from torch.utils.data import Dataset, get_worker_info

from ..errors import DataError
from ..paths import check_regular
from .images import decode_image
from .records import (
    JSONL_HINT,
    integer_field,
    json_list,
    jsonl_answer,
    jsonl_lines,
    jsonl_object,
    record_id,
    string_field,
)

log = logging.getLogger(__name__)

#: images decoded when the data is built, before the model loads (spread evenly over the samples)
PROBE_IMAGES = 16


@dataclass(frozen=True)
class Triple:
    id: str
    image: Path
    question: str
    answer: str


class TripleDataset(Dataset):
    """VQA triples whose images are decoded lazily (in data-loader workers).

    ``image_errors="skip"``: an unreadable image leaves its sample out of the batch (counted, with a
    warning). ``"fail"``: it stops training with one sentence naming the file; in a worker process the
    error travels with the batch (``UnreadableWatch`` raises it in the main process), because torch would
    otherwise re-raise it with the worker's whole traceback as its message.
    """

    def __init__(self, triples: Sequence[Triple], image_errors: str = "skip",
                 source: str = "the training data") -> None:
        if not triples:
            raise DataError(f"{source[0].upper()}{source[1:]} holds no samples.")
        self.triples = triples
        self.image_errors = image_errors
        self.source = source

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        t = self.triples[index]
        item: dict[str, Any] = {"id": t.id, "image": None, "question": t.question, "answer": t.answer}
        try:
            item["image"] = decode_image(t.image)
        except DataError as exc:
            if self.image_errors == "fail":
                if get_worker_info() is None:
                    raise
                item["error"] = str(exc)
            else:
                log.warning("skipping sample %s: %s", t.id, exc.message)
        return item

    def check_images(self, n: int = PROBE_IMAGES) -> None:
        """Decode up to ``n`` images spread over the data before any model loads.

        With ``fail`` the first unreadable one stops here. With ``skip``, all of them unreadable means the
        images are not where the records say (a wrong folder, say): that is an error too, rather than a run
        whose every batch is empty.
        """
        step = max(len(self.triples) / n, 1.0)
        picks = sorted({int(i * step) for i in range(min(n, len(self.triples)))})
        failures = []
        for i in picks:
            try:
                decode_image(self.triples[i].image)
            except DataError as exc:
                if self.image_errors == "fail":
                    raise
                failures.append(exc)
        if len(failures) == len(picks):
            raise DataError(
                f"None of the {len(picks)} images checked in {self.source} can be read "
                f"(the first: {failures[0].message})",
                "Check where the images are: relative paths in a JSONL file are resolved against its folder.",
            )
        if failures:
            log.warning("%d of %d images checked in %s are unreadable: such samples are skipped and counted",
                        len(failures), len(picks), self.source)


def jsonl_fields(row: dict[str, Any], n: int, path: Path) -> tuple[str, str, str, str]:
    """Line ``n`` of the JSONL file ``path`` (its object) -> ``(id, image, question, answer)``, checked: a
    DataError naming the line and the key otherwise."""
    where = f"Line {n} of '{path}'"
    image = string_field(row, "image", where, blank=False, hint=JSONL_HINT)
    question = string_field(row, "question", where, hint=JSONL_HINT)
    return record_id(row, "id", where, default=str(n)), image, question, jsonl_answer(row, where)


def jsonl_triple(row: dict[str, Any], n: int, path: Path) -> Triple:
    """Line ``n`` of ``path`` -> a Triple whose relative image path is resolved against the file's folder."""
    sample_id, image, question, answer = jsonl_fields(row, n, path)
    found = Path(image)
    return Triple(sample_id, found if found.is_absolute() else path.parent / found, question, answer)


class JsonlTriples(Sequence[Triple]):
    """The triples of a JSONL file, kept as the byte offset and number of each line, not as the rows.

    Every line is read and checked once while the index is built (a wrong line stops here, named), and read
    again from its offset when its sample is asked for: memory holds 16 bytes per row whatever the rows hold,
    so a file of millions of lines costs tens of megabytes, not gigabytes. The object pickles small (a path
    and two arrays) for data-loader workers, which open the file themselves.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offsets, self.lines = array("q"), array("q")
        for n, offset, row in jsonl_lines(path):
            jsonl_fields(row, n, path)
            self.offsets.append(offset)
            self.lines.append(n)

    def __len__(self) -> int:
        return len(self.offsets)

    @overload
    def __getitem__(self, index: int) -> Triple: ...

    @overload
    def __getitem__(self, index: slice) -> list[Triple]: ...

    def __getitem__(self, index: int | slice) -> Triple | list[Triple]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = self.lines[index]
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offsets[index])
                line = handle.readline()
        except OSError as exc:
            raise DataError(f"Cannot read training file '{self.path}': {exc.strerror or exc}.") from exc
        row = jsonl_object(line, n, self.path)
        if row is None:
            raise DataError(f"Line {n} of '{self.path}' changed while training read it (it is blank now).")
        return jsonl_triple(row, n, self.path)


def jsonl_dataset(location: str, *, image_errors: str = "skip", seed: int = 0) -> TripleDataset:
    """One JSON object per line: ``image`` (a path, relative to the file's folder or absolute), ``question``
    (a string), ``answer`` (a non-empty string) or ``answers`` (see ``records.jsonl_answer``), ``id`` (optional,
    a string or an integer; default: the line number). Other keys are ignored. The lines are indexed, not
    loaded (:class:`JsonlTriples`)."""
    path = Path(location).expanduser()
    check_regular(path, "Training file")
    if not path.is_file():
        raise DataError(
            f"Training file '{path}' does not exist.", "Use --data jsonl:FILE with one JSON object per line."
        )
    dataset = TripleDataset(JsonlTriples(path), image_errors, source=f"'{path}'")
    dataset.check_images()
    return dataset


def vqav2_dataset(
    location: str, *, image_errors: str = "skip", seed: int = 0, split: str = "train2014"
) -> TripleDataset:
    """Official VQAv2: ``v2_OpenEnded_mscoco_{split}_questions.json``, ``v2_mscoco_{split}_annotations.json``,
    images in ``{split}/COCO_{split}_{image_id:012d}.jpg``. The target is ``multiple_choice_answer``.
    ``question_id`` and ``image_id`` must be integers, ``question`` and ``multiple_choice_answer`` strings."""
    root = Path(location).expanduser()
    qfile = root / f"v2_OpenEnded_mscoco_{split}_questions.json"
    afile = root / f"v2_mscoco_{split}_annotations.json"
    for f in (qfile, afile):
        if not f.exists():
            raise DataError(f"VQAv2 file '{f}' does not exist.",
                            f"Expected the official layout: {qfile.name}, {afile.name} and {split}/ under {root}.")
    answers = {}
    for i, ann in enumerate(json_list(afile, "annotations")):
        where = f"'{afile}', annotations[{i}]"
        answers[integer_field(ann, "question_id", where)] = string_field(ann, "multiple_choice_answer", where,
                                                                         blank=False)
    triples = []
    questions = json_list(qfile, "questions")
    for i, q in enumerate(questions):
        where = f"'{qfile}', questions[{i}]"
        qid, image_id = integer_field(q, "question_id", where), integer_field(q, "image_id", where)
        question = string_field(q, "question", where)
        if qid in answers:
            image = root / split / f"COCO_{split}_{image_id:012d}.jpg"
            triples.append(Triple(str(qid), image, question, answers[qid]))
    if questions and not triples:
        raise DataError(f"None of the {len(questions)} questions in '{qfile}' has an annotation in '{afile}'.",
                        "The two files must be of the same split (their question_ids match).")
    if len(triples) < len(questions):
        log.warning("%d of %d VQAv2 questions have no annotation and are left out", len(questions) - len(triples),
                    len(questions))
    dataset = TripleDataset(triples, image_errors, source=f"the VQAv2 data in '{root}'")
    dataset.check_images()
    return dataset
