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
* AdVQA: VQAv2's ``n`` questions under AdVQA's file names; images ``val2017/<image_id:012d>.jpg``.
* NaturalBench: ``n`` groups, as the release (one row per group, ``data/train-*.parquet``) or its lmms-eval
  export (one row per pair, ``data/test-*.parquet``). Group ``g`` is ``yes_no`` for even ``g``,
  ``multiple_choice`` for odd ``g``; its questions read ``"Group <g>, question <k>: ..."``; its answers follow
  the official pattern (``q0_i0`` Yes/A, ``q0_i1`` No/B, ``q1_i0`` No/B, ``q1_i1`` Yes/A); its images are flat
  8x8 PNGs, image 0 with green 60, image 1 with green 200 (:data:`NATURALBENCH_GREEN`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image

__all__ = ["MMMU_FIXTURE_SUBJECTS", "NATURALBENCH_GREEN", "POPE_OBJECTS", "write_advqa", "write_mmmu",
           "write_naturalbench", "write_pope", "write_pope_parquet", "write_vqav2"]

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


def _encode(i: int, fmt: str, size: int = 16, color: tuple[int, int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), color or _color(i)).save(buffer, format=fmt)
    return buffer.getvalue()


def write_vqav2(root: Path, n: int = 6, split: str = "val2014") -> Path:
    """Write ``n`` VQAv2 questions, annotations and JPEG images under ``root``."""
    return _write_vqa(root, n, split, f"v2_OpenEnded_mscoco_{split}_questions.json",
                      f"v2_mscoco_{split}_annotations.json", f"COCO_{split}_{{image_id:012d}}.jpg")


def write_advqa(root: Path, n: int = 6) -> Path:
    """Write ``n`` AdVQA questions, annotations and COCO val2017 JPEG images under ``root``."""
    return _write_vqa(root, n, "val2017", "v1_OpenEnded_mscoco_val2017_advqa_questions.json",
                      "v1_mscoco_val2017_advqa_annotations.json", "{image_id:012d}.jpg")


def _write_vqa(root: Path, n: int, split: str, questions_file: str, annotations_file: str, image_name: str) -> Path:
    root = Path(root)
    (root / split).mkdir(parents=True, exist_ok=True)
    questions, annotations = [], []
    for i in range(n):
        text, answers, answer_type, question_type, mc = _VQA_TEMPLATES[i % 3]
        image_id = 100 + i
        qid = 10 * image_id
        (root / split / image_name.format(image_id=image_id)).write_bytes(_encode(i, "JPEG"))
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
    (root / questions_file).write_text(json.dumps({**meta, "task_type": "Open-Ended", "questions": questions}),
                                       encoding="utf-8")
    (root / annotations_file).write_text(json.dumps({**meta, "annotations": annotations}), encoding="utf-8")
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


NATURALBENCH_GREEN = (60, 200)  # the green channel of each group's image 0 and image 1
_NB_ANSWERS = {"yes_no": ("Yes", "No", "No", "Yes"), "multiple_choice": ("A", "B", "B", "A")}  # q0_i0 ... q1_i1


def _naturalbench_group(g: int) -> dict:
    """Group ``g``: its type, two questions, four answers (official order) and two PNG images."""
    kind = "yes_no" if g % 2 == 0 else "multiple_choice"
    if kind == "yes_no":
        questions = [f"Group {g}, question 0: is the wall red?", f"Group {g}, question 1: is the wall blue?"]
    else:
        questions = [f"Group {g}, question {k}: which colour is the wall? Option: A: {a}; B: {b};"
                     for k, (a, b) in enumerate((("red", "blue"), ("blue", "red")))]
    images = [_encode(0, "PNG", size=8, color=(20 + 20 * g, green, 90)) for green in NATURALBENCH_GREEN]
    return {"type": kind, "questions": questions, "answers": _NB_ANSWERS[kind], "images": images}


def write_naturalbench(root: Path, n: int = 4, layout: str = "release") -> Path:
    """Write ``n`` NaturalBench groups as the release (``layout="release"``) or its lmms-eval export
    (``layout="lmms-eval"``) under ``<root>/data/``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    groups = [_naturalbench_group(g) for g in range(n)]
    if layout == "release":
        answer_columns = ("Image_0_Question_0", "Image_1_Question_0", "Image_0_Question_1", "Image_1_Question_1")
        schema = pa.schema([("Index", pa.int64()), ("Image_0", image), ("Image_1", image),
                            ("Question_0", pa.string()), ("Question_1", pa.string()),
                            *[(c, pa.string()) for c in answer_columns],
                            ("Question_Type", pa.string()), ("Source", pa.string())])
        rows = [{"Index": g, "Question_Type": group["type"], "Source": "fixture",
                 "Image_0": {"bytes": group["images"][0], "path": None},
                 "Image_1": {"bytes": group["images"][1], "path": None},
                 "Question_0": group["questions"][0], "Question_1": group["questions"][1],
                 **dict(zip(answer_columns, group["answers"]))} for g, group in enumerate(groups)]
        name = "train-00000-of-00001.parquet"
    elif layout == "lmms-eval":
        schema = pa.schema([("Index", pa.int64()), ("Image", image), ("Question", pa.string()),
                            ("Question_Type", pa.string()), ("Answer", pa.string())])
        rows = [{"Index": 4 * g + k, "Image": {"bytes": group["images"][k % 2], "path": None},
                 "Question": group["questions"][k // 2], "Question_Type": group["type"],
                 "Answer": group["answers"][k]} for g, group in enumerate(groups) for k in range(4)]
        name = "test-00000-of-00001.parquet"
    else:
        raise ValueError(f"Unknown NaturalBench layout {layout!r}: 'release' or 'lmms-eval'.")
    (Path(root) / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), Path(root) / "data" / name)
    return Path(root)
