"""The evaluation item every reader returns, and the error raised for a wrong data layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unigame_core.errors import DataError

__all__ = ["EvalItem", "DataLayoutError"]


@dataclass(frozen=True)
class EvalItem:
    """One benchmark question, ready to be shown to a model.

    Attributes:
        id: Stable identifier, unique within a suite (e.g. the VQA ``question_id``).
        question: The full text shown to the model, answer-format instruction included.
        image: A file path or the encoded image bytes (PNG/JPEG); never decoded here.
        references: The reference answers (10 human answers for VQAv2, the label for POPE,
            the gold letter or the accepted answers for MMMU).
        meta: Suite-specific extras (answer type, category, subject, choices...).
    """

    id: str
    question: str
    image: str | bytes | None
    references: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


class DataLayoutError(DataError):
    """A file that the official data layout requires is missing.

    The message is one sentence naming the missing file and the layout expected, e.g.
    ``Missing file /data/vqav2/v2_mscoco_val2014_annotations.json: expected the official
    VQAv2 layout <root>/v2_mscoco_{split}_annotations.json, ...``.
    """

    def __init__(self, missing: str | Path, layout: str) -> None:
        self.missing = str(missing)
        self.layout = layout
        super().__init__(f"Missing file {self.missing}: expected {layout}.")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.missing, self.layout))
