"""AdVQA (adversarialvqa.org): its official files, scored with the official VQA accuracy of ``vqav2.py``.

AdVQA's validation release uses the VQAv2 file format: a questions file (``{"questions": [{"image_id",
"question", "question_id"}]}``) and an annotations file (``{"annotations": [{"question_id", "image_id",
"answers": [{"answer", ...} x 10], "multiple_choice_answer", "answer_type", "question_type"}]}``). Its
images are COCO val2017, named by their 12-digit id (``val2017/000000000139.jpg``). Reading and scoring
are VQAv2's own (:func:`unigame_evals.vqav2.read_vqa`, :func:`unigame_evals.vqav2.vqa_accuracy`): only
the file names differ.
"""

from __future__ import annotations

from pathlib import Path

from .items import EvalItem
from .vqav2 import VQALayout, read_vqa

__all__ = ["ADVQA_LAYOUT", "read_advqa"]

ADVQA_LAYOUT = VQALayout(
    questions="v1_OpenEnded_mscoco_val2017_advqa_questions.json",
    annotations="v1_mscoco_val2017_advqa_annotations.json",
    images="val2017",
    image_name="{image_id:012d}.jpg",
    description=(
        "the official AdVQA layout <root>/v1_OpenEnded_mscoco_val2017_advqa_questions.json, "
        "<root>/v1_mscoco_val2017_advqa_annotations.json and COCO val2017 images "
        "<root>/val2017/<image_id:012d>.jpg"
    ),
)


def read_advqa(root: Path, limit: int | None = None) -> list[EvalItem]:
    """AdVQA questions (prompt as VQAv2's), their ten human answers and image paths (see :func:`read_vqa`)."""
    return read_vqa(root, ADVQA_LAYOUT, limit)
