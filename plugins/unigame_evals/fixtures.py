"""Tiny datasets written in each official on-disk layout, for tests and CLI smoke runs.

Every writer creates small real images with PIL, is deterministic, and returns ``root``.
Item ``i`` (0-based) cycles through a few templates so readers and metrics see all cases:

* VQAv2 (``val2014``): ``i % 3 == 0`` yes/no ("Is there a cat in the picture?", ten "yes"),
  ``1`` number ("How many dogs are there?", six "2", two "two", "3", "4"),
  ``2`` other ("What color is the bus?", eight "red", "dark red", "the red one");
  ``image_id = 100 + i``, ``question_id = 10 * image_id``.
* POPE: ``n`` lines per category; label "yes" for even ``i``, "no" for odd ``i``;
  ``question_id = i + 1``; image ``COCO_val2014_{200 + i:012d}.jpg``.
* POPE as the Hugging Face parquet (``lmms-lab/POPE`` schema: ``id``, ``question_id``, ``question``,
  ``answer``, ``image_source``, ``image`` as a ``{bytes, path}`` struct, ``category``): ``n`` questions
  per category in one file ``<root>/data/test-00000-of-00001.parquet``, categories interleaved; label
  "yes" for even ``i``; the object is ``("cat", "dog", "car")[i % 3]``; 8x8 PNG bytes.
* MMMU: rows alternate between the subjects ``Accounting`` and ``Art_Theory``; even ``i``
  are multiple-choice (4 options, gold ``"ABCD"[i % 4]``), odd ``i`` open (gold ``str(10*i)``);
  every row has ``image_1`` (PNG bytes), rows with ``i % 3 == 0`` also ``image_2``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

__all__ = ["MMMU_FIXTURE_SUBJECTS", "POPE_OBJECTS", "write_mmmu", "write_pope", "write_pope_parquet", "write_vqav2"]

POPE_OBJECTS = ("cat", "dog", "car", "chair", "person", "bottle")
MMMU_FIXTURE_SUBJECTS = ("Accounting", "Art_Theory")
_VQA_TEMPLATES = (
    ("Is there a cat in the picture?", ["yes"] * 10, "yes/no", "is there a", "yes"),
    ("How many dogs are there?", ["2"] * 6 + ["two", "two", "3", "4"], "number", "how many",
     "2"),
    ("What color is the bus?", ["red"] * 8 + ["dark red", "the red one"], "other",
     "what color is the", "red"),
)


def _color(i: int) -> tuple[int, int, int]:
    return ((40 * i) % 256, (90 + 70 * i) % 256, (200 - 30 * i) % 256)


def _encode(i: int, fmt: str, size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), _color(i)).save(buffer, format=fmt)
    return buffer.getvalue()


def write_vqav2(root: Path, n: int = 6, split: str = "val2014") -> Path:
    """Write ``n`` VQAv2 questions, annotations and JPEG images under ``root``."""
    root = Path(root)
    (root / split).mkdir(parents=True, exist_ok=True)
    questions, annotations = [], []
    for i in range(n):
        text, answers, answer_type, question_type, mc = _VQA_TEMPLATES[i % 3]
        image_id = 100 + i
        qid = 10 * image_id
        (root / split / f"COCO_{split}_{image_id:012d}.jpg").write_bytes(_encode(i, "JPEG"))
        questions.append({"image_id": image_id, "question": text, "question_id": qid})
        annotations.append({
            "question_id": qid,
            "image_id": image_id,
            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                        for k, a in enumerate(answers)],
            "answer_type": answer_type,
            "multiple_choice_answer": mc,
            "question_type": question_type,
        })
    meta = {"info": {"description": "unigame VQAv2 fixture"}, "data_type": "mscoco",
            "data_subtype": split, "license": {}}
    (root / f"v2_OpenEnded_mscoco_{split}_questions.json").write_text(
        json.dumps({**meta, "task_type": "Open-Ended", "questions": questions}),
        encoding="utf-8")
    (root / f"v2_mscoco_{split}_annotations.json").write_text(
        json.dumps({**meta, "annotations": annotations}), encoding="utf-8")
    return root


def write_pope(root: Path, n: int = 6) -> Path:
    """Write ``n`` POPE questions per category (random, popular, adversarial) and images."""
    root = Path(root)
    (root / "val2014").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = root / "val2014" / f"COCO_val2014_{200 + i:012d}.jpg"
        image.write_bytes(_encode(i, "JPEG"))
    for category in ("random", "popular", "adversarial"):
        lines = []
        for i in range(n):
            lines.append(json.dumps({
                "question_id": i + 1,
                "image": f"COCO_val2014_{200 + i:012d}.jpg",
                "text": f"Is there a {POPE_OBJECTS[i % len(POPE_OBJECTS)]} in the image?",
                "label": "yes" if i % 2 == 0 else "no",
            }))
        (root / f"coco_pope_{category}.json").write_text("\n".join(lines) + "\n",
                                                         encoding="utf-8")
    return root


def write_pope_parquet(root: Path, n: int = 6, folder: str = "data") -> Path:
    """Write ``n`` POPE questions per category as the Hugging Face parquet (``<root>/<folder>/...``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("id", pa.string()), ("question_id", pa.string()), ("question", pa.string()),
                        ("answer", pa.string()), ("image_source", pa.string()), ("image", image),
                        ("category", pa.string())])
    rows = []
    for i in range(n):
        for category in ("adversarial", "popular", "random"):
            source = f"COCO_val2014_{300 + i:012d}"
            rows.append({"id": str(len(rows)), "question_id": str(i + 1), "answer": "yes" if i % 2 == 0 else "no",
                         "question": f"Is there a {('cat', 'dog', 'car')[i % 3]} in the image?",
                         "image_source": source, "category": category,
                         "image": {"bytes": _encode(i, "PNG", size=8), "path": f"{source}.png"}})
    (Path(root) / folder).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), Path(root) / folder / "test-00000-of-00001.parquet")
    return Path(root)


def write_mmmu(root: Path, n: int = 6, split: str = "validation") -> Path:
    """Write ``n`` MMMU rows as official parquet files ``<root>/<Subject>/<split>-...``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    fields = [("id", pa.string()), ("question", pa.string()), ("options", pa.string()),
              ("explanation", pa.string())]
    fields += [(f"image_{k}", image_type) for k in range(1, 8)]
    fields += [(name, pa.string()) for name in
               ("img_type", "answer", "topic_difficulty", "question_type", "subfield")]
    schema = pa.schema(fields)
    rows: dict[str, list[dict]] = {s: [] for s in MMMU_FIXTURE_SUBJECTS}
    for i in range(n):
        subject = MMMU_FIXTURE_SUBJECTS[i % len(MMMU_FIXTURE_SUBJECTS)]
        multiple_choice = i % 2 == 0
        options = [f"option {c}{i}" for c in "wxyz"] if multiple_choice else []
        row = {
            "id": f"{split}_{subject}_{len(rows[subject]) + 1}",
            "question": f"<image 1> Question {i} about {subject}?",
            "options": repr(options),
            "explanation": "",
            "img_type": "['Diagrams']",
            "answer": "ABCD"[i % 4] if multiple_choice else str(10 * i),
            "topic_difficulty": ("Easy", "Medium", "Hard")[i % 3],
            "question_type": "multiple-choice" if multiple_choice else "open",
            "subfield": f"{subject} subfield",
        }
        for k in range(1, 8):
            has_image = k == 1 or (k == 2 and i % 3 == 0)
            row[f"image_{k}"] = ({"bytes": _encode(10 * i + k, "PNG"), "path": None}
                                 if has_image else None)
        rows[subject].append(row)
    for subject, subject_rows in rows.items():
        if not subject_rows:
            continue
        (root / subject).mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(subject_rows, schema=schema)
        pq.write_table(table, root / subject / f"{split}-00000-of-00001.parquet")
    return root
