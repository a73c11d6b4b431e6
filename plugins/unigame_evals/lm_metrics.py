"""``process_results`` and aggregation functions of the task YAMLs, over the official metric code.

Each ``*_results(doc, results)`` returns, for every metric of its task, the same record dict: at
least ``score`` (this sample's score, also written to the predictions file) and ``unreadable``
(the image could not be decoded: the answer is :data:`UNREADABLE`, always scored as wrong).
Aggregations receive the list of records and return one float; a breakdown with no sample of its
kind returns NaN (dropped from the results).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from unigame_core.eval.common import UNREADABLE

from .items import EvalItem
from .mmmu import mmmu_aggregate, score_response
from .naturalbench import METRICS as NATURALBENCH_METRICS
from .naturalbench import extract_answer, naturalbench_metrics
from .pope import parse_yes_no, pope_metrics
from .vqav2 import aggregate, vqa_accuracy

Record = dict[str, Any]
NAN = float("nan")

VQAV2_METRICS = ("accuracy", "accuracy_yes_no", "accuracy_number", "accuracy_other")
POPE_METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")


def answer_text(results: Sequence[Any]) -> tuple[str, bool]:
    """The generated answer and whether the image was unreadable (:data:`UNREADABLE`)."""
    text = str(results[0]) if results else ""
    return text, text == UNREADABLE


# ---------------------------------------------------------------- VQAv2 and AdVQA (percent, as the official script)
def vqav2_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, Record]:
    answer, unreadable = answer_text(results)
    score = 0.0 if unreadable else vqa_accuracy(answer, doc["references"])
    record = {"score": score, "answer_type": doc["answer_type"], "unreadable": unreadable}
    return {metric: record for metric in VQAV2_METRICS}


def _vqav2(items: Sequence[Record], key: str) -> float:
    result = aggregate([r["score"] for r in items], [r["answer_type"] for r in items])
    return float(result.get(key, NAN))


def vqav2_accuracy(items: Sequence[Record]) -> float:
    return _vqav2(items, "overall")


def vqav2_accuracy_yes_no(items: Sequence[Record]) -> float:
    return _vqav2(items, "yes/no")


def vqav2_accuracy_number(items: Sequence[Record]) -> float:
    return _vqav2(items, "number")


def vqav2_accuracy_other(items: Sequence[Record]) -> float:
    return _vqav2(items, "other")


# ---------------------------------------------------------------- POPE (fractions, "yes" is positive)
def pope_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, Record]:
    answer, unreadable = answer_text(results)
    label = doc["references"][0]
    parsed = ("no" if label == "yes" else "yes") if unreadable else parse_yes_no(answer)
    record = {"score": float(parsed == label), "parsed": parsed, "label": label,
              "category": doc["category"], "unreadable": unreadable}
    return {metric: record for metric in POPE_METRICS}


def _pope(items: Sequence[Record], key: str) -> float:
    return float(pope_metrics([r["parsed"] for r in items], [r["label"] for r in items])[key])


def pope_accuracy(items: Sequence[Record]) -> float:
    return _pope(items, "accuracy")


def pope_precision(items: Sequence[Record]) -> float:
    return _pope(items, "precision")


def pope_recall(items: Sequence[Record]) -> float:
    return _pope(items, "recall")


def pope_f1(items: Sequence[Record]) -> float:
    return _pope(items, "f1")


def pope_yes_ratio(items: Sequence[Record]) -> float:
    return _pope(items, "yes_ratio")


# ---------------------------------------------------------------- MMMU (fractions, no random fallback)
def mmmu_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, Record]:
    answer, unreadable = answer_text(results)
    letters = [chr(ord("A") + i) for i in range(len(doc["options"]))]
    item = EvalItem(id=doc["id"], question=doc["question"], image=None, references=tuple(doc["references"]),
                    meta={"question_type": doc["question_type"], "all_choices": letters,
                          "index2ans": dict(zip(letters, doc["options"]))})
    correct = False if unreadable else bool(score_response(item, answer))
    record = {"score": float(correct), "correct": correct, "subject": doc["subject"],
              "question_type": doc["question_type"], "unreadable": unreadable}
    return {"accuracy": record}


def mmmu_accuracy(items: Sequence[Record]) -> float:
    return float(mmmu_aggregate(items)["overall"])


# ---------------------------------------------------------------- NaturalBench (fractions, groups of four pairs)
def naturalbench_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, Record]:
    """One pair: right when the official extraction gives its answer (an unreadable image: never)."""
    answer, unreadable = answer_text(results)
    parsed = "" if unreadable else extract_answer(answer, doc["question_type"])
    record = {"score": float(parsed == doc["answer"]), "level": "pair", "group": doc["group"], "pair": doc["pair"],
              "question_type": doc["question_type"], "parsed": parsed, "unreadable": unreadable}
    return {metric: record for metric in NATURALBENCH_METRICS}


def naturalbench_acc(items: Sequence[Record]) -> float:
    return naturalbench_metrics(items)["acc"]


def naturalbench_q_acc(items: Sequence[Record]) -> float:
    return naturalbench_metrics(items)["q_acc"]


def naturalbench_i_acc(items: Sequence[Record]) -> float:
    return naturalbench_metrics(items)["i_acc"]


def naturalbench_g_acc(items: Sequence[Record]) -> float:
    return naturalbench_metrics(items)["g_acc"]
