"""The functions the shapes world's task YAMLs (``tasks/``) name: ``custom_dataset`` and metrics.

Built on the evals plugin's lm-eval helpers (docs as ``datasets``, the official VQA answer
normalisation), which is why this plugin declares ``requires_plugins = ("evals",)``. Records follow
``unigame_evals.lm_metrics``: ``score`` per sample plus ``unreadable``; accuracies are fractions.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

from unigame_core.errors import DataError
from unigame_evals.lm_docs import SPLIT, as_limit, png_bytes, to_dataset
from unigame_evals.lm_metrics import Record, answer_text
from unigame_evals.vqav2 import normalize_answer

from .options import ShapesOptions


# ---------------------------------------------------------------- docs
def shapes_docs(split: str, shapes_seed: int = ShapesOptions.seed, shapes_samples: int = ShapesOptions.samples,
                shapes_image_size: int = ShapesOptions.image_size, limit: int | None = None, **_: Any) -> Any:
    """Samples ``0..n-1`` of a shapes-world split, rendered on the fly (the world is procedural). The defaults
    are the shapes suite's (``ShapesOptions``), so lm-eval's command line renders what ``unigame eval`` does."""
    from .world import ShapesWorld

    world = ShapesWorld(seed=int(shapes_seed), image_size=int(shapes_image_size))
    n = int(shapes_samples) if as_limit(limit) is None else min(int(shapes_samples), int(limit))  # type: ignore
    rows = []
    for index in range(n):
        s = world.sample(split, index)
        rows.append({"id": s.id, "question": s.question, "image": png_bytes(s.image), "references": [s.answer],
                     "target": s.answer, "kind": s.kind})
    return to_dataset(rows, f"shapes ({split})")


def generated_docs(kind: str, generated_path: str | None = None, limit: int | None = None, **_: Any) -> Any:
    """Docs whose images the evaluated model made (attack, consistency), written by the suite as parquet."""
    import datasets
    import pyarrow.parquet as pq

    if not generated_path:
        raise DataError(f"The '{kind}' task's images are made by the model under evaluation.",
                        "Run it with `unigame eval --suite shapes` or `--suite consistency`.")
    table = pq.read_table(generated_path)
    if as_limit(limit) is not None:
        table = table.slice(0, int(limit))  # type: ignore[arg-type]
    return datasets.DatasetDict({SPLIT: datasets.Dataset(table)})


# ---------------------------------------------------------------- metrics (fractions)
def exact_match(prediction: str, answer: str) -> bool:
    """Equal after the official VQA normalisation (case, punctuation, articles, "two" == "2")."""
    return normalize_answer(prediction) == normalize_answer(answer)


def shapes_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, Record]:
    answer, unreadable = answer_text(results)
    correct = not unreadable and exact_match(answer, doc["target"])
    return {"accuracy": {"score": float(correct), "kind": doc["kind"], "unreadable": unreadable}}


def consistency_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, Record]:
    answer, unreadable = answer_text(results)
    agrees = not unreadable and exact_match(answer, doc["target"])
    record = {"score": float(agrees), "image_id": doc["image_id"], "caption": doc["caption"],
              "unreadable": unreadable}
    return {"agreement": record, "image_consistency": record}


def mean_score(items: Sequence[Record]) -> float:
    return sum(r["score"] for r in items) / len(items) if items else 0.0


def image_consistency(items: Sequence[Record]) -> float:
    """Share of generated images for which every caption-derived question was answered as the caption says."""
    by_image: dict[str, list[float]] = defaultdict(list)
    for r in items:
        by_image[str(r["image_id"])].append(r["score"])
    return sum(all(s == 1.0 for s in v) for v in by_image.values()) / len(by_image) if by_image else 0.0
