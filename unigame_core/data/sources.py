"""Built-in training-data sources: JSON lines and the official VQAv2 layout."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ..errors import DataError
from .images import decode_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Triple:
    id: str
    image: Path
    question: str
    answer: str


class TripleDataset(Dataset):
    """VQA triples whose images are decoded lazily (in data-loader workers)."""

    def __init__(self, triples: list[Triple], image_errors: str = "skip") -> None:
        if not triples:
            raise DataError("The training data holds no samples.")
        self.triples = triples
        self.image_errors = image_errors

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        t = self.triples[index]
        try:
            image = decode_image(t.image)
        except DataError:
            if self.image_errors == "fail":
                raise
            log.warning("skipping unreadable image %s", t.image)
            image = None
        return {"id": t.id, "image": image, "question": t.question, "answer": t.answer}


def jsonl_dataset(location: str, *, image_errors: str = "skip", seed: int = 0) -> TripleDataset:
    """``{"image": path, "question": str, "answer": str | "answers": [str, ...], "id"?: str}`` per line."""
    path = Path(location).expanduser()
    if not path.is_file():
        raise DataError(
            f"Training file '{path}' does not exist.", "Use --data jsonl:FILE with one JSON object per line."
        )
    triples = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answer = row["answer"] if "answer" in row else _majority(row["answers"])
            image = Path(row["image"])
            triples.append(Triple(str(row.get("id", n)), image if image.is_absolute() else path.parent / image,
                                  str(row["question"]), str(answer)))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"Line {n} of '{path}' is not a valid sample ({exc}).",
                            "Each line needs 'image', 'question' and 'answer' (or 'answers').") from exc
    return TripleDataset(triples, image_errors)


def vqav2_dataset(
    location: str, *, image_errors: str = "skip", seed: int = 0, split: str = "train2014"
) -> TripleDataset:
    """Official VQAv2: ``v2_OpenEnded_mscoco_{split}_questions.json``, ``v2_mscoco_{split}_annotations.json``,
    images in ``{split}/COCO_{split}_{image_id:012d}.jpg``. The target is ``multiple_choice_answer``."""
    root = Path(location).expanduser()
    qfile = root / f"v2_OpenEnded_mscoco_{split}_questions.json"
    afile = root / f"v2_mscoco_{split}_annotations.json"
    for f in (qfile, afile):
        if not f.exists():
            raise DataError(f"VQAv2 file '{f}' does not exist.",
                            f"Expected the official layout: {qfile.name}, {afile.name} and {split}/ under {root}.")
    questions = json.loads(qfile.read_text())["questions"]
    answers = {a["question_id"]: a for a in json.loads(afile.read_text())["annotations"]}
    triples = []
    for q in questions:
        ann = answers.get(q["question_id"])
        if ann is None:
            continue
        image = root / split / f"COCO_{split}_{int(q['image_id']):012d}.jpg"
        triples.append(Triple(str(q["question_id"]), image, q["question"], ann["multiple_choice_answer"]))
    return TripleDataset(triples, image_errors)


def _majority(answers: list[str]) -> str:
    if not answers:
        raise KeyError("answers is empty")
    return Counter(answers).most_common(1)[0][0]
