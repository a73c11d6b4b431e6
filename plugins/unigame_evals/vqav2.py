"""VQAv2: the official VQA accuracy (``vqaEval.py`` semantics) and a reader of the official VQA file format.

Both serve AdVQA too (``advqa.py``), which ships its questions and annotations in the same format.

Answer processing follows the official VQA evaluation script (GT-Vision-Lab/VQA,
``PythonEvaluationTools/vqaEvaluation/vqaEval.py``, its Python 3 version):

* the prediction gets ``'\\n'``/``'\\t'`` replaced by a space and is stripped;
* ``processPunctuation``: each character of ``PUNCT`` is deleted when it touches a space in
  the input, or when the input contains a digit-comma-digit pattern, and replaced by a space
  otherwise; then periods not followed by a digit are removed (``PERIOD_STRIP``; the official
  pattern ``(?!<=\\d)`` is a mistyped look-behind, kept as is, and the official call passes
  ``re.UNICODE`` as the *count* argument, so at most 32 periods are removed: kept too);
* ``processDigitArticle``: lower-case, split on whitespace, map number words (``MANUAL_MAP``),
  drop articles, expand contractions (``CONTRACTIONS``), join with single spaces.

Which side is normalised, as the official script does it: the *prediction* always goes
through ``processPunctuation`` then ``processDigitArticle``; the ten human answers are compared
raw when all ten are the same string, and otherwise go through ``processPunctuation`` only
(never ``processDigitArticle``). Consequences kept on purpose: ``"two"`` scores 1.0 against ten
``"2"``; ``"t-shirt"`` scores 0.0 against ten ``"t-shirt"`` (the prediction becomes ``"t shirt"``,
the identical human answers stay as typed); ``"The Bus"`` scores 0.0 against ten ``"the bus"``.
The human answers are not whitespace-stripped (the official files hold clean strings).
``normalize_answer`` is the prediction-side processing.

Accuracy of one question: the mean, over the ten leave-one-out subsets of nine references,
of ``min(1, #matches / 3)`` (the official script leaves out the one answer dict equal to the current
one; VQAv2 answers carry distinct ``answer_id``s, so that is leaving out by position). Overall and
per-answer-type accuracies are percentages rounded to 2 decimals, as the official ``setAccuracy``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from unigame_core.data.records import describe, integer_field, json_list, record_id, string_field
from unigame_core.errors import DataError

from .items import DataLayoutError, EvalItem

__all__ = [
    "ANSWER_TYPES",
    "PROMPT_SUFFIX",
    "VQALayout",
    "aggregate",
    "normalize_answer",
    "process_digit_article",
    "process_punctuation",
    "read_vqa",
    "read_vqav2",
    "score_item",
    "vqa_accuracy",
    "vqav2_layout",
]

PROMPT_SUFFIX = "Answer the question using a single word or phrase."
ANSWER_TYPES = ("yes/no", "number", "other")
REPORT_DECIMALS = 2  # the official setAccuracy rounds percentages to 2 decimals

# The official contraction table, entries exactly as in vqaEval.py (including its oddities,
# e.g. capitalised keys that never match after lower-casing, and "somebody'd" -> "somebodyd").
_CONTRACTION_PAIRS = """
aint:ain't arent:aren't cant:can't couldve:could've couldnt:couldn't couldn'tve:couldn't've
couldnt've:couldn't've didnt:didn't doesnt:doesn't dont:don't hadnt:hadn't hadnt've:hadn't've
hadn'tve:hadn't've hasnt:hasn't havent:haven't hed:he'd hed've:he'd've he'dve:he'd've hes:he's
howd:how'd howll:how'll hows:how's Id've:I'd've I'dve:I'd've Im:I'm Ive:I've isnt:isn't
itd:it'd itd've:it'd've it'dve:it'd've itll:it'll let's:let's maam:ma'am mightnt:mightn't
mightnt've:mightn't've mightn'tve:mightn't've mightve:might've mustnt:mustn't mustve:must've
neednt:needn't notve:not've oclock:o'clock oughtnt:oughtn't ow's'at:'ow's'at 'ows'at:'ow's'at
'ow'sat:'ow's'at shant:shan't shed've:she'd've she'dve:she'd've she's:she's
shouldve:should've shouldnt:shouldn't shouldnt've:shouldn't've shouldn'tve:shouldn't've
somebody'd:somebodyd somebodyd've:somebody'd've somebody'dve:somebody'd've
somebodyll:somebody'll somebodys:somebody's someoned:someone'd someoned've:someone'd've
someone'dve:someone'd've someonell:someone'll someones:someone's somethingd:something'd
somethingd've:something'd've something'dve:something'd've somethingll:something'll
thats:that's thered:there'd thered've:there'd've there'dve:there'd've therere:there're
theres:there's theyd:they'd theyd've:they'd've they'dve:they'd've theyll:they'll
theyre:they're theyve:they've twas:'twas wasnt:wasn't wed've:we'd've we'dve:we'd've
weve:we've werent:weren't whatll:what'll whatre:what're whats:what's whatve:what've
whens:when's whered:where'd wheres:where's whereve:where've whod:who'd whod've:who'd've
who'dve:who'd've wholl:who'll whos:who's whove:who've whyll:why'll whyre:why're whys:why's
wont:won't wouldve:would've wouldnt:wouldn't wouldnt've:wouldn't've wouldn'tve:wouldn't've
yall:y'all yall'll:y'all'll y'allll:y'all'll yall'd've:y'all'd've y'alld've:y'all'd've
y'all'dve:y'all'd've youd:you'd youd've:you'd've you'dve:you'd've youll:you'll youre:you're
youve:you've
"""
CONTRACTIONS: dict[str, str] = dict(
    pair.split(":", 1) for pair in _CONTRACTION_PAIRS.split()  # type: ignore[misc]
)
MANUAL_MAP: dict[str, str] = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
ARTICLES: frozenset[str] = frozenset({"a", "an", "the"})
PUNCT: tuple[str, ...] = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-",
    ">", "<", "@", "`", ",", "?", "!",
)
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_OFFICIAL_PERIOD_COUNT = int(re.UNICODE)  # vqaEval.py passes re.UNICODE (32) as `count`


def _clean_whitespace(text: str) -> str:
    """Replace newlines and tabs by spaces and strip, as the official script always does."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def process_punctuation(text: str) -> str:
    """The official ``processPunctuation``."""
    out = text
    has_digit_comma = COMMA_STRIP.search(text) is not None
    for p in PUNCT:
        if (p + " " in text or " " + p in text) or has_digit_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return PERIOD_STRIP.sub("", out, count=_OFFICIAL_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    """The official ``processDigitArticle``: number words, articles, contractions."""
    words = [MANUAL_MAP.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_answer(s: str) -> str:
    """The official processing of a prediction: whitespace, punctuation, digits, articles, contractions."""
    return process_digit_article(process_punctuation(_clean_whitespace(s)))


def vqa_accuracy(prediction: str, gt_answers: Sequence[str]) -> float:
    """Official VQA accuracy of one prediction against the human answers (usually 10).

    Returns the mean over leave-one-out subsets of ``min(1, matches / 3)``, in ``[0, 1]``. The
    prediction is always normalised; the human answers get ``processPunctuation`` only, and only
    when they are not all the same string (see the module docstring).
    """
    if not gt_answers:
        raise ValueError("vqa_accuracy needs at least one reference answer.")
    pred = normalize_answer(prediction)
    gts = [str(a) for a in gt_answers]
    if len(set(gts)) > 1:
        gts = [process_punctuation(a) for a in gts]
    total = 0.0
    for i in range(len(gts)):
        matches = sum(1 for j, g in enumerate(gts) if j != i and g == pred)
        total += min(1.0, matches / 3.0)
    return total / len(gts)


def aggregate(scores: list[float], answer_types: list[str]) -> dict[str, float]:
    """Overall and per-answer-type accuracy, in percent rounded to 2 decimals (the official report).

    Keys: ``"overall"`` plus each answer type present (``"yes/no"``, ``"number"``,
    ``"other"``). Empty input gives ``{"overall": 0.0}``.
    """
    if len(scores) != len(answer_types):
        raise ValueError(f"{len(scores)} scores but {len(answer_types)} answer types.")
    if not scores:
        return {"overall": 0.0}
    by_type: dict[str, list[float]] = defaultdict(list)
    for score, kind in zip(scores, answer_types):
        by_type[kind].append(score)
    result = {"overall": round(100.0 * sum(scores) / len(scores), REPORT_DECIMALS)}
    ordered = [k for k in ANSWER_TYPES if k in by_type]
    ordered += sorted(k for k in by_type if k not in ANSWER_TYPES)
    for kind in ordered:
        values = by_type[kind]
        result[kind] = round(100.0 * sum(values) / len(values), REPORT_DECIMALS)
    return result


def score_item(item: EvalItem, prediction: str) -> float:
    """VQA accuracy of ``prediction`` for an item returned by :func:`read_vqav2`."""
    return vqa_accuracy(prediction, item.references)


@dataclass(frozen=True)
class VQALayout:
    """Where one release in the official VQA file format (VQAv2, AdVQA) keeps its files, relative to its root.

    ``image_name`` is formatted with ``image_id``; ``description`` is the layout named in error messages.
    """

    questions: str
    annotations: str
    images: str
    image_name: str
    description: str


def vqav2_layout(split: str) -> VQALayout:
    """The official VQAv2 files of ``split`` (``val2014``): questions, annotations, COCO images."""
    return VQALayout(
        questions=f"v2_OpenEnded_mscoco_{split}_questions.json",
        annotations=f"v2_mscoco_{split}_annotations.json",
        images=split,
        image_name=f"COCO_{split}_{{image_id:012d}}.jpg",
        description=(
            f"the official VQAv2 layout <root>/v2_OpenEnded_mscoco_{split}_questions.json, "
            f"<root>/v2_mscoco_{split}_annotations.json and images "
            f"<root>/{split}/COCO_{split}_<image_id:012d>.jpg"
        ),
    )


def _load_json(path: Path, layout: VQALayout, key: str) -> list[dict[str, Any]]:
    """The ``key`` list of an official VQA file; a missing file names the layout, a malformed one its fault."""
    if not path.is_file():
        raise DataLayoutError(path, layout.description)
    return json_list(path, key)


def _human_answers(ann: dict[str, Any], where: str) -> tuple[str, ...]:
    """The raw human answers of one annotation: a non-empty list of ``{"answer": str}`` objects."""
    answers = ann.get("answers")
    if not isinstance(answers, list) or not answers:
        raise DataError(f"{where}: 'answers' must be a non-empty list, got {describe(answers)}.")
    for j, a in enumerate(answers):
        if not isinstance(a, dict):
            raise DataError(f"{where}: answers[{j}] must be an object with an 'answer', got {describe(a)}.")
    return tuple(string_field(a, "answer", f"{where}, answers[{j}]") for j, a in enumerate(answers))


def read_vqa(root: Path, layout: VQALayout, limit: int | None = None) -> list[EvalItem]:
    """Read questions, annotations and image paths of a release in the official VQA format (``layout``).

    Items keep the questions-file order; ``limit`` keeps the first ``limit`` questions.
    Each item's ``references`` are the human answers (raw), ``image`` the JPEG path, and
    ``meta`` holds ``answer_type``, ``question_id``, ``image_id``, ``question_type`` and
    ``multiple_choice_answer``. Raises :class:`DataLayoutError` naming any missing file.
    """
    root = Path(root)
    questions_file = root / layout.questions
    questions = _load_json(questions_file, layout, "questions")
    annotations_file = root / layout.annotations
    annotations = _load_json(annotations_file, layout, "annotations")
    by_qid = {record_id(ann, "question_id", f"'{annotations_file}' annotations[{i}]"): ann
              for i, ann in enumerate(annotations)}
    image_dir = root / layout.images
    if not image_dir.is_dir():
        raise DataLayoutError(image_dir, layout.description)
    if limit is not None:
        questions = questions[: max(0, limit)]
    items: list[EvalItem] = []
    for i, q in enumerate(questions):
        where = f"'{questions_file}' questions[{i}]"
        qid = record_id(q, "question_id", where)
        ann = by_qid.get(qid)
        if ann is None:
            raise DataLayoutError(f"{layout.annotations} (annotation for question_id {qid})", layout.description)
        image_id = integer_field(q, "image_id", where)
        image = image_dir / layout.image_name.format(image_id=image_id)
        if not image.is_file():
            raise DataLayoutError(image, layout.description)
        items.append(
            EvalItem(
                id=str(qid),
                question=f"{string_field(q, 'question', where, blank=False)}\n{PROMPT_SUFFIX}",
                image=str(image),
                references=_human_answers(ann, f"'{annotations_file}' annotation for question_id {qid}"),
                meta={
                    "answer_type": ann.get("answer_type", "other"),
                    "question_id": q["question_id"],
                    "image_id": image_id,
                    "question_type": ann.get("question_type", ""),
                    "multiple_choice_answer": ann.get("multiple_choice_answer", ""),
                },
            )
        )
    return items


def read_vqav2(root: Path, split: str = "val2014", limit: int | None = None) -> list[EvalItem]:
    """Read VQAv2 questions, annotations and image paths from the official layout (see :func:`read_vqa`)."""
    return read_vqa(root, vqav2_layout(split), limit)
