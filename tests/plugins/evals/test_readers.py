"""Readers on the tiny official-layout fixtures (and the Hugging Face POPE parquet), and DataLayoutError on
missing files."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from PIL import Image

from unigame_core.errors import DataError
from unigame_evals.fixtures import write_mmmu, write_pope, write_pope_parquet, write_vqav2
from unigame_evals.items import DataLayoutError, EvalItem
from unigame_evals.mmmu import read_mmmu, score_response
from unigame_evals.pope import check_pope, parse_yes_no, pope_metrics, read_pope
from unigame_evals.vqav2 import aggregate, read_vqav2, score_item

SUFFIX = "Answer the question using a single word or phrase."


def test_eval_item_is_frozen_with_defaults() -> None:
    item = EvalItem(id="1", question="q", image=None)
    assert item.references == () and item.meta == {}
    assert EvalItem(id="2", question="q", image=None).meta is not item.meta
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.id = "3"  # type: ignore[misc]


def test_data_layout_error_message() -> None:
    err = DataLayoutError("/data/x.json", "the layout <root>/x.json")
    assert isinstance(err, Exception)
    assert str(err) == "Missing file /data/x.json: expected the layout <root>/x.json."


# --- VQAv2 -------------------------------------------------------------------------------

def test_read_vqav2_fixture(tmp_path: Path) -> None:
    root = write_vqav2(tmp_path / "vqav2", n=6)
    items = read_vqav2(root)
    assert len(items) == 6
    first = items[0]
    assert first.id == "1000"
    assert first.question == f"Is there a cat in the picture?\n{SUFFIX}"
    assert first.references == ("yes",) * 10
    assert first.meta == {"answer_type": "yes/no", "question_id": 1000, "image_id": 100,
                          "question_type": "is there a", "multiple_choice_answer": "yes"}
    assert isinstance(first.image, str)
    assert first.image.endswith("val2014/COCO_val2014_000000000100.jpg")
    with Image.open(first.image) as img:
        assert img.format == "JPEG" and img.size == (16, 16)
    assert [i.meta["answer_type"] for i in items] == ["yes/no", "number", "other"] * 2
    assert len(read_vqav2(root, limit=2)) == 2


def test_vqav2_scores_on_fixture(tmp_path: Path) -> None:
    items = read_vqav2(write_vqav2(tmp_path, n=3))
    # item 1: "Two" -> "2" matches six "2" (the two "two" stay as typed) -> 1.0
    # item 2: "dark red" matches one human answer -> 0.3
    scores = [score_item(items[0], "Yes"), score_item(items[1], "Two"),
              score_item(items[2], "dark red")]
    assert scores == pytest.approx([1.0, 1.0, 0.3])  # item 0: "Yes" is lower-cased, ten "yes" stay as typed
    result = aggregate(scores, [i.meta["answer_type"] for i in items])
    assert result == {"overall": 76.67, "yes/no": 100.0, "number": 100.0, "other": 30.0}


@pytest.mark.parametrize(
    "relative",
    ["v2_OpenEnded_mscoco_val2014_questions.json", "v2_mscoco_val2014_annotations.json",
     "val2014/COCO_val2014_000000000101.jpg"],
)
def test_vqav2_missing_file(tmp_path: Path, relative: str) -> None:
    root = write_vqav2(tmp_path, n=3)
    (root / relative).unlink()
    with pytest.raises(DataLayoutError, match=Path(relative).name) as info:
        read_vqav2(root)
    assert "v2_OpenEnded_mscoco_val2014_questions.json" in str(info.value)  # the layout


# --- POPE --------------------------------------------------------------------------------

def test_read_pope_fixture(tmp_path: Path) -> None:
    root = write_pope(tmp_path / "pope", n=6)
    items = read_pope(root)
    assert len(items) == 18
    assert [i.meta["category"] for i in items] == (
        ["random"] * 6 + ["popular"] * 6 + ["adversarial"] * 6)
    first = items[0]
    assert first.id == "random/1"
    assert first.question == f"Is there a cat in the image?\n{SUFFIX}"
    assert first.references == ("yes",) and items[1].references == ("no",)
    assert first.meta["label"] == "yes" and first.meta["question_id"] == 1
    assert isinstance(first.image, str) and Path(first.image).is_file()
    assert Path(first.image).parent.name == "val2014"
    assert len(read_pope(root, limit=4)) == 4
    adversarial = read_pope(root, categories=("adversarial",))
    assert len(adversarial) == 6 and adversarial[0].id == "adversarial/1"
    # an always-"yes" model on the fixture: 9 TP, 9 FP
    m = pope_metrics(["Yes"] * 18, [i.references[0] for i in items])
    assert (m["TP"], m["FP"], m["accuracy"], m["yes_ratio"]) == (9, 9, 0.5, 1.0)
    assert parse_yes_no("No.") == "no"


def test_pope_missing_file(tmp_path: Path) -> None:
    root = write_pope(tmp_path, n=2)
    (root / "coco_pope_popular.json").unlink()
    with pytest.raises(DataLayoutError, match="coco_pope_popular.json"):
        read_pope(root)
    assert len(read_pope(root, categories=("random",))) == 2
    with pytest.raises(ValueError, match=r"Unknown POPE categories \['nonsense'\]"):
        read_pope(root, categories=("nonsense",))


def test_read_pope_hugging_face_parquet(tmp_path: Path) -> None:
    root = write_pope_parquet(tmp_path / "pope", n=4)
    items = read_pope(root)
    assert [i.id for i in items] == [f"{c}/{k}" for c in ("random", "popular", "adversarial") for k in "1234"]
    first = items[0]
    assert first.question == f"Is there a cat in the image?\n{SUFFIX}"
    assert first.references == ("yes",) and items[1].references == ("no",)
    assert first.meta == {"category": "random", "question_id": "1", "label": "yes",
                          "image_file": "COCO_val2014_000000000300"}
    assert isinstance(first.image, bytes)
    with Image.open(io.BytesIO(first.image)) as img:
        assert img.size == (8, 8)
    assert len(read_pope(root, limit=5)) == 5
    assert [i.id for i in read_pope(root, categories=("popular",))] == [f"popular/{k}" for k in "1234"]
    check_pope(root)  # columns and categories, without reading the images


def test_pope_parquet_layout_errors(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pytest.raises(DataLayoutError, match="coco_pope_random.json") as info:
        check_pope(tmp_path)  # neither layout: the message names both
    assert "data/test-*.parquet" in str(info.value)
    table = pq.read_table(write_pope_parquet(tmp_path / "a", n=2) / "data" / "test-00000-of-00001.parquet")
    pq.write_table(table.drop_columns(["answer"]), tmp_path / "a" / "data" / "test-00000-of-00001.parquet")
    with pytest.raises(DataError, match="has no column 'answer'"):
        check_pope(tmp_path / "a")
    only_random = table.filter(pa.compute.equal(table["category"], "random"))
    (tmp_path / "b").mkdir()
    pq.write_table(only_random, tmp_path / "b" / "test.parquet")  # parquet at the top of the folder
    check_pope(tmp_path / "b", categories=("random",))
    with pytest.raises(DataError, match="no question of category 'popular'"):
        check_pope(tmp_path / "b")
    bad = table.set_column(table.schema.get_field_index("answer"), "answer", pa.array(["maybe"] * len(table)))
    (tmp_path / "c" / "Full").mkdir(parents=True)
    pq.write_table(bad, tmp_path / "c" / "Full" / "random-00000-of-00001.parquet")
    with pytest.raises(DataError, match="'yes' or 'no', got 'maybe'"):
        read_pope(tmp_path / "c", categories=("random",))


# --- MMMU --------------------------------------------------------------------------------

def test_read_mmmu_fixture(tmp_path: Path) -> None:
    root = write_mmmu(tmp_path / "mmmu", n=6)
    assert (root / "Accounting" / "validation-00000-of-00001.parquet").is_file()
    items = read_mmmu(root)
    assert len(items) == 6
    # subjects in name order: Accounting holds rows 0, 2, 4; Art_Theory rows 1, 3, 5
    assert [i.id for i in items] == [
        "validation_Accounting_1", "validation_Accounting_2", "validation_Accounting_3",
        "validation_Art_Theory_1", "validation_Art_Theory_2", "validation_Art_Theory_3"]
    mc = items[0]
    assert mc.question == (
        "<image 1> Question 0 about Accounting?\n(A) option w0\n(B) option x0\n"
        "(C) option y0\n(D) option z0\n"
        "Answer with the option's letter from the given choices directly.")
    assert mc.references == ("A",)
    assert mc.meta["subject"] == "Accounting" and mc.meta["question_type"] == "multiple-choice"
    assert mc.meta["all_choices"] == ["A", "B", "C", "D"]
    assert mc.meta["index2ans"]["B"] == "option x0"
    assert mc.meta["num_images"] == 2 and items[1].meta["num_images"] == 1
    assert isinstance(mc.image, bytes) and mc.image.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(mc.image)) as img:
        assert img.format == "PNG"
    open_item = items[3]
    assert open_item.question == f"<image 1> Question 1 about Art_Theory?\n{SUFFIX}"
    assert open_item.references == ("10",) and open_item.meta["question_type"] == "open"
    assert items[1].references == ("C",)  # row 2: "ABCD"[2 % 4]
    assert len(read_mmmu(root, limit=4)) == 4
    assert {i.meta["subject"] for i in read_mmmu(root, subjects=["Art_Theory"])} == {
        "Art_Theory"}


def test_mmmu_scoring_on_fixture(tmp_path: Path) -> None:
    items = read_mmmu(write_mmmu(tmp_path, n=6))
    assert score_response(items[0], "(A)")
    assert score_response(items[0], "The answer is A.")
    assert score_response(items[0], "After some thought, I pick option w0 for sure")
    assert not score_response(items[0], "The answer is B.")
    assert not score_response(items[0], "no idea")
    assert score_response(items[3], "The answer is 10.")
    assert score_response(items[3], "10")
    assert not score_response(items[3], "The answer is 100.")


def test_mmmu_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataLayoutError, match="validation-00000-of-00001.parquet"):
        read_mmmu(tmp_path)
    root = write_mmmu(tmp_path, n=2)
    with pytest.raises(DataLayoutError, match="Math"):
        read_mmmu(root, subjects=["Accounting", "Math"])
