"""``custom_dataset`` functions of the task YAMLs: data -> a ``datasets.DatasetDict`` with split ``test``.

lm-eval calls each as ``fn(**metadata, **dataset_kwargs)``: ``dataset_kwargs`` come from the YAML
(``category``), ``metadata`` from the TaskManager (``unigame eval`` fills it; from
the ``lm_eval`` command line pass ``--metadata data_root=/data`` or e.g. ``vqav2_path=/data/vqa``).

Every doc has ``id``, ``question`` (the full prompt), ``image`` (a file path, or encoded PNG/JPEG
bytes: never decoded here), ``references`` (list of strings) and ``target`` (one reference, for
lm-eval's logs), plus what the task's metrics need. Official files are read with the readers of this
package, which raise ``DataError`` naming a missing file and the expected layout. The helpers here
(``to_dataset``, ``png_bytes``, ``as_limit``, ``split_limit``) serve other plugins' tasks too (the shapes world's).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from unigame_core.errors import DataError
from unigame_core.paths import check_regular

from .advqa import read_advqa
from .items import EvalItem
from .mmmu import read_mmmu
from .naturalbench import read_naturalbench, whole_groups
from .pope import read_pope
from .vqav2 import read_vqav2

SPLIT = "test"


def data_dir(suite: str, path: str | Path | None, data_root: str | Path | None) -> Path:
    """``path`` if given, else ``<data_root>/<suite>`` (absolute); a clear DataError when neither is known."""
    if path:
        return Path(path).expanduser().resolve()
    if data_root:
        return (Path(data_root).expanduser() / suite).resolve()
    raise DataError(
        f"Suite '{suite}' does not know where its data is.",
        f"Pass --data-root DIR (with DIR/{suite}/ in the official layout, see docs/evaluation.md) "
        f"or --suite {suite}=PATH.",
    )


def to_dataset(rows: list[dict[str, Any]], what: str) -> Any:
    """Rows -> ``DatasetDict({"test": Dataset})`` (in memory, no cache files)."""
    import datasets

    if not rows:
        raise DataError(f"{what} holds no samples.", "Check the files and --limit.")
    return datasets.DatasetDict({SPLIT: datasets.Dataset.from_list(rows)})


def png_bytes(image: np.ndarray) -> bytes:
    """``(H, W, 3)`` uint8 -> PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def as_limit(limit: Any) -> int | None:
    """lm-eval's metadata ``limit`` (a string, empty or None) -> an int or None."""
    return None if limit in (None, "", "None") else int(limit)


def _vqa_rows(items: list[EvalItem]) -> list[dict[str, Any]]:
    """Docs of a release in the official VQA format (VQAv2, AdVQA): scored by ``lm_metrics.vqav2_results``."""
    return [{"id": it.id, "question": it.question, "image": it.image, "references": list(it.references),
             "target": it.meta["multiple_choice_answer"], "answer_type": it.meta["answer_type"]} for it in items]


def vqav2_docs(vqav2_path: str | None = None, data_root: str | None = None, vqav2_split: str = "val2014",
               limit: int | None = None, **_: Any) -> Any:
    """The official VQAv2 questions/annotations/images (see :func:`unigame_evals.vqav2.read_vqav2`)."""
    items = read_vqav2(data_dir("vqav2", vqav2_path, data_root), vqav2_split, limit=as_limit(limit))
    return to_dataset(_vqa_rows(items), "VQAv2")


def advqa_docs(advqa_path: str | None = None, data_root: str | None = None, limit: int | None = None,
               **_: Any) -> Any:
    """The official AdVQA questions/annotations and COCO val2017 images (:func:`unigame_evals.advqa.read_advqa`)."""
    items = read_advqa(data_dir("advqa", advqa_path, data_root), limit=as_limit(limit))
    return to_dataset(_vqa_rows(items), "AdVQA")


def naturalbench_docs(naturalbench_path: str | None = None, data_root: str | None = None, limit: int | None = None,
                      **_: Any) -> Any:
    """NaturalBench pairs, four per group; ``limit`` (samples) is rounded up to whole groups."""
    pairs = whole_groups(as_limit(limit))
    root = data_dir("naturalbench", naturalbench_path, data_root)
    items = read_naturalbench(root, None if pairs is None else pairs // 4)
    rows = [{"id": it.id, "question": it.question, "image": it.image, "references": list(it.references),
             "target": it.references[0], "answer": it.meta["answer"], "group": it.meta["group"],
             "pair": it.meta["pair"], "question_type": it.meta["question_type"]} for it in items]
    return to_dataset(rows, "NaturalBench")


def pope_docs(category: str, pope_path: str | None = None, data_root: str | None = None,
              limit: int | None = None, **_: Any) -> Any:
    """One POPE category (``random``, ``popular`` or ``adversarial``)."""
    items = read_pope(data_dir("pope", pope_path, data_root), categories=(category,), limit=as_limit(limit))
    rows = [{"id": it.id, "question": it.question, "image": it.image, "references": list(it.references),
             "target": it.references[0], "category": category} for it in items]
    return to_dataset(rows, f"POPE ({category})")


def mmmu_docs(mmmu_path: str | None = None, data_root: str | None = None, mmmu_split: str = "validation",
              limit: int | None = None, **_: Any) -> Any:
    """MMMU rows of every subject folder (``image_1`` as encoded bytes)."""
    items = read_mmmu(data_dir("mmmu", mmmu_path, data_root), mmmu_split, limit=as_limit(limit))
    rows = []
    for it in items:
        if isinstance(it.image, str):
            check_regular(it.image, "Image")  # before reading: a FIFO would block
        image = it.image if isinstance(it.image, bytes) else (Path(it.image).read_bytes() if it.image else b"")
        rows.append({"id": it.id, "question": it.question, "image": image, "references": list(it.references),
                     "target": it.references[0], "subject": it.meta["subject"],
                     "question_type": it.meta["question_type"], "options": list(it.meta["options"])})
    return to_dataset(rows, "MMMU")


def split_limit(limit: int | None, parts: int) -> list[int | None]:
    """A suite-wide ``--limit`` shared exactly between ``parts`` tasks, the first ones taking one more when it
    does not divide (50 over 3: 17, 17, 16); a share may be 0 when ``limit < parts`` (the suite leaves that
    task out). No limit: ``None`` for each."""
    if limit is None:
        return [None] * parts
    base, extra = divmod(limit, parts)
    return [base + (i < extra) for i in range(parts)]
