"""Hand-computed checks of the official VQAv2, POPE and MMMU metrics."""

from __future__ import annotations

import pytest

from unigame_evals.mmmu import (
    build_prompt,
    eval_multi_choice,
    eval_open,
    extract_numbers,
    mmmu_aggregate,
    normalize_str,
    parse_multi_choice_response,
    parse_open_response,
)
from unigame_evals.pope import parse_yes_no, pope_metrics
from unigame_evals.vqav2 import aggregate, normalize_answer, vqa_accuracy


# --- VQAv2 -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Two", "2"),
        ("none", "0"),
        ("Two dogs", "2 dogs"),
        ("the dog.", "dog"),
        ("isnt", "isn't"),
        ("Dont", "don't"),
        ("a cat", "cat"),
        ("an apple", "apple"),
        ("The Bus", "bus"),
        ("1,000", "1000"),
        ("1,000 people", "1000 people"),
        ("yes.", "yes"),
        ("3.5", "3.5"),
        ("hello-world", "hello world"),
        ("- hello", "hello"),
        ("red, white", "red white"),
        ("  yes\n", "yes"),
        ("tab\there", "tab here"),
    ],
)
def test_vqa_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


def test_vqa_accuracy_leave_one_out_counts() -> None:
    others = ["3"] * 10
    # k matching humans: (10-k) subsets see k matches, k subsets see k-1 matches.
    assert vqa_accuracy("2", ["2"] + others[:9]) == pytest.approx(0.3)
    assert vqa_accuracy("2", ["2"] * 2 + others[:8]) == pytest.approx(0.6)
    assert vqa_accuracy("2", ["2"] * 3 + others[:7]) == pytest.approx(0.9)
    assert vqa_accuracy("2", ["2"] * 4 + others[:6]) == pytest.approx(1.0)
    assert vqa_accuracy("5", ["2"] * 4 + others[:6]) == 0.0


def test_vqa_accuracy_normalises_the_prediction_and_punctuation_of_differing_answers() -> None:
    # Answers differ: humans get processPunctuation only, so "two" stays "two" and never equals "2".
    gts = ["two"] * 3 + ["3"] * 7
    assert vqa_accuracy("2", gts) == 0.0
    assert vqa_accuracy("two", gts) == 0.0  # the prediction becomes "2"
    assert vqa_accuracy("3", gts) == pytest.approx(1.0)
    assert vqa_accuracy("Yes.", ["yes"] * 9 + ["no"]) == pytest.approx(1.0)
    # mixed answers 2/2/6: two humans match -> 8 subsets see 2 matches, 2 subsets see 1 -> 0.6
    assert vqa_accuracy("red", ["red"] * 2 + ["dark red"] * 2 + ["maroon"] * 6) == pytest.approx(0.6)
    # "1,000" (digit-comma-digit: commas deleted) on both sides; "a dog" vs "dog": the article is dropped
    # from the prediction only
    assert vqa_accuracy("1,000", ["1,000"] * 3 + ["thousand"] * 7) == pytest.approx(0.9)
    assert vqa_accuracy("a dog", ["dog"] * 7 + ["a dog"] * 3) == pytest.approx(1.0)
    assert vqa_accuracy("a dog", ["a dog"] * 7 + ["dog"] * 3) == pytest.approx(0.9)


def test_vqa_identical_answers_are_compared_unprocessed() -> None:
    # vqaEval.py: the prediction is always processed (punctuation, digits, articles, contractions);
    # ten identical human answers are compared as typed.
    assert vqa_accuracy("two", ["2"] * 10) == 1.0
    assert vqa_accuracy("Yes", ["yes"] * 10) == 1.0
    assert vqa_accuracy("yes.", ["yes"] * 10) == 1.0
    assert vqa_accuracy("a dog", ["dog"] * 10) == 1.0
    assert vqa_accuracy("1,000", ["1000"] * 10) == 1.0
    assert vqa_accuracy(" yes\n", ["yes"] * 10) == 1.0
    assert vqa_accuracy("isnt", ["isn't"] * 10) == 1.0
    assert vqa_accuracy("t-shirt", ["t-shirt"] * 10) == 0.0  # prediction "t shirt", humans "t-shirt"
    assert vqa_accuracy("the bus", ["the bus"] * 10) == 0.0  # prediction "bus"
    assert vqa_accuracy("2", ["two"] * 10) == 0.0


def test_vqa_accuracy_rejects_empty_references() -> None:
    with pytest.raises(ValueError, match="at least one reference answer"):
        vqa_accuracy("yes", [])


def test_vqa_aggregate_percent_by_type() -> None:
    result = aggregate([1.0, 0.0, 0.9, 0.3], ["yes/no", "yes/no", "number", "other"])
    assert result == pytest.approx(
        {"overall": 55.0, "yes/no": 50.0, "number": 90.0, "other": 30.0})
    # rounded to 2 decimals, as the official report
    assert aggregate([1.0, 0.0, 0.0], ["other"] * 3) == {"overall": 33.33, "other": 33.33}
    assert aggregate([1.0, 1.0, 0.0], ["number"] * 3) == {"overall": 66.67, "number": 66.67}
    assert list(result) == ["overall", "yes/no", "number", "other"]
    assert aggregate([], []) == {"overall": 0.0}
    with pytest.raises(ValueError, match="1 scores but 0 answer types"):
        aggregate([1.0], [])


# --- POPE --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", "yes"),
        ("Yes, there is a dog in the image.", "yes"),
        ("No", "no"),
        ("No, there is no dog.", "no"),
        ("There is not a dog in the image.", "no"),
        ("Yes. There is no cat on the left.", "yes"),  # only the first sentence counts
        ("I see no cat. But yes.", "no"),
        ("nothing", "yes"),  # "no" must be a whole word
        ("", "no"),
        ("   ", "no"),
        ("no", "no"),
        ("yes", "yes"),
    ],
)
def test_pope_parse_yes_no(text: str, expected: str) -> None:
    assert parse_yes_no(text) == expected


def test_pope_metrics_hand_example() -> None:
    preds = ["Yes, there is.", "yes", "Yes", "No, there is not.", "no"]
    labels = ["yes", "no", "no", "yes", "no"]
    m = pope_metrics(preds, labels)
    assert (m["TP"], m["FP"], m["TN"], m["FN"], m["n"]) == (1, 2, 1, 1, 5)
    assert m["accuracy"] == pytest.approx(0.4)
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.4)
    assert m["yes_ratio"] == pytest.approx(0.6)


def test_pope_metrics_degenerate() -> None:
    m = pope_metrics(["no", "no"], ["no", "yes"])
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0
    assert m["accuracy"] == 0.5 and m["yes_ratio"] == 0.0
    assert pope_metrics([], [])["accuracy"] == 0.0
    with pytest.raises(ValueError, match="must be 'yes' or 'no', got 'maybe'"):
        pope_metrics(["yes"], ["maybe"])
    with pytest.raises(ValueError, match="1 predictions but 0 labels"):
        pope_metrics(["yes"], [])


# --- MMMU --------------------------------------------------------------------------------

CHOICES = ["A", "B", "C", "D"]
INDEX2ANS = {"A": "red apple", "B": "blue sky", "C": "green grass", "D": "black hole"}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("(B)", "B"),
        ("B", "B"),
        ("The answer is C.", "C"),
        ("(A) is wrong, so the answer is (C)", "C"),  # last bracketed candidate wins
        ("A or D? D", "D"),
        ("I think the picture clearly shows green grass", "C"),  # > 5 words: content match
        ("It is blue sky or maybe the red apple", "A"),  # last content match wins
        ("green grass", ""),  # <= 5 words: no content matching, nothing parses
        ("I really do not know", ""),
        ("", ""),
    ],
)
def test_mmmu_parse_multi_choice(response: str, expected: str) -> None:
    assert parse_multi_choice_response(response, CHOICES, INDEX2ANS) == expected


def test_mmmu_unparseable_is_deterministically_wrong() -> None:
    preds = {parse_multi_choice_response("no idea", CHOICES, INDEX2ANS) for _ in range(20)}
    assert preds == {""}
    assert not any(eval_multi_choice(gold, "") for gold in CHOICES)
    assert eval_multi_choice("B", "B") and eval_multi_choice(["A", "B"], "B")
    assert not eval_multi_choice("A", "B")


def test_mmmu_numbers() -> None:
    assert extract_numbers("costs 3,000 or 1.5e3 or -2.5") == ["3,000", "1.5e3", "000", "1",
                                                                 "3", "-2.5"]
    assert normalize_str("3,000") == [3000.0]
    assert normalize_str("1,234.567") == [1234.57]
    assert normalize_str("B") == [" b", "b "]
    assert normalize_str(" Paris ") == ["paris"]
    assert 3000.0 in parse_open_response("It costs 3,000 dollars")
    assert 1500.0 in parse_open_response("The answer is 1.5e3.")
    assert parse_open_response("so the result is 42") == [42.0]


def test_mmmu_open_matching() -> None:
    assert eval_open("3000", parse_open_response("It costs 3,000 dollars"))
    assert eval_open("1500", parse_open_response("1.5e3"))
    assert eval_open("3.14", parse_open_response("Therefore x = 3.14159"))  # rounded to 2
    assert not eval_open("3.1", parse_open_response("The value is 3.14"))
    assert eval_open("Paris", parse_open_response("The capital is Paris."))
    assert not eval_open("London", parse_open_response("The capital is Paris."))
    assert eval_open(["24/7", "always"], parse_open_response("It is open always"))
    assert eval_open("B", parse_open_response("The answer is b."))
    # one-letter golds are padded (" b", "b ") so they do not match inside a word
    assert not eval_open("b", parse_open_response("The answer is abc"))


def test_mmmu_prompt_and_aggregate() -> None:
    assert build_prompt("Q?", ["x", "y"], "multiple-choice") == (
        "Q?\n(A) x\n(B) y\nAnswer with the option's letter from the given choices directly.")
    assert build_prompt("Q?", [], "open") == (
        "Q?\nAnswer the question using a single word or phrase.")
    result = mmmu_aggregate([
        {"id": "validation_Art_Theory_1", "correct": True},
        {"id": "validation_Art_Theory_2", "correct": False},
        {"subject": "Math", "correct": True},
    ])
    assert result["overall"] == pytest.approx(2 / 3)
    assert result["num"] == 3
    assert result["per_subject"] == {"Art_Theory": 0.5, "Math": 1.0}
    assert result["per_subject_num"] == {"Art_Theory": 2, "Math": 1}
    assert mmmu_aggregate([])["overall"] == 0.0
