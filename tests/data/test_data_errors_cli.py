"""Training data a user got wrong: ``unigame train`` prints one sentence naming the file (and line, and key)
and exits 2; never a traceback, never a silent coercion, never a run of empty batches."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from unigame_core import plugins
from unigame_core.cli.main import app
from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry
from unigame_core.run.build import build_dataset
from unigame_core.testing import quick_overrides

runner = CliRunner()


def header_only_png(path: Path, width: int, height: int) -> Path:
    """A few-byte PNG whose header claims ``width x height`` (PIL judges the size from the header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def jsonl(root: Path, images: list[str], name: str = "train.jsonl") -> Path:
    for i, image in enumerate(images):
        if not (root / image).exists():
            Image.fromarray(np.full((10, 12, 3), 30 * i % 255, np.uint8)).save(root / image)
    rows = [{"image": image, "question": "what color?", "answer": "red"} for image in images]
    path = root / name
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def train(tmp_path: Path, spec: str, *extra: str) -> Result:
    args = quick_overrides(tmp_path / "run", "train.steps=2", f"data.spec={spec}", *extra)
    return runner.invoke(app, ["train", "--model", "fake-tiny", *args])


def one_sentence_exit_2(result: Result, *parts: str) -> str:
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and text.count("error:") == 1, result.output
    for part in parts:
        assert part in text, (part, result.output)
    return text


# ---- 1. decompression bombs ------------------------------------------------------------------------
def test_decompression_bomb_fails_naming_the_file(fake_plugin: None, tmp_path: Path) -> None:
    header_only_png(tmp_path / "bomb.png", 20_000, 20_000)  # 400 M pixels: PIL raises DecompressionBombError
    data = jsonl(tmp_path, ["a.png", "b.png", "bomb.png"])
    result = train(tmp_path, f"jsonl:{data}", "data.image_errors=fail")
    one_sentence_exit_2(result, f"Image '{tmp_path / 'bomb.png'}' is too large to decode safely",
                        "400,000,000 pixels")


@pytest.mark.slow
def test_decompression_bomb_is_a_counted_skip(fake_plugin: None, tmp_path: Path) -> None:
    header_only_png(tmp_path / "bomb.png", 20_000, 20_000)
    header_only_png(tmp_path / "big.png", 10_000, 10_000)  # 100 M pixels: PIL would only warn, and decode
    data = jsonl(tmp_path, ["a.png", "b.png", "c.png", "bomb.png", "big.png", "d.png", "e.png", "f.png"])
    result = train(tmp_path, f"jsonl:{data}")  # batch 8 = every sample once per step
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "bomb.png' is too large to decode safely" in text and "big.png' is too large" in text
    assert "DecompressionBombWarning" not in text and "4 unreadable training images were skipped" in text
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_images"] for r in rows] == [2, 4]


def test_bomb_in_a_data_loader_worker_is_one_sentence(fake_plugin: None, tmp_path: Path) -> None:
    # 17 samples: the 16 checked before the model loads are good; the 17th fails in a worker process
    header_only_png(tmp_path / "z-bomb.png", 20_000, 20_000)
    data = jsonl(tmp_path, [f"{i:02d}.png" for i in range(16)] + ["z-bomb.png"])
    result = train(tmp_path, f"jsonl:{data}", "data.image_errors=fail", "data.num_workers=1", "train.batch_size=17")
    text = one_sentence_exit_2(result, "z-bomb.png' is too large to decode safely")
    assert "worker" not in text


def test_missing_data_leaves_no_empty_run_directory(fake_plugin: None, tmp_path: Path) -> None:
    one_sentence_exit_2(train(tmp_path, f"jsonl:{tmp_path / 'missing.jsonl'}"), "missing.jsonl' does not exist")
    assert not (tmp_path / "run").exists()  # made for the run, removed with it
    (tmp_path / "run").mkdir()  # a folder the user made is theirs: kept
    one_sentence_exit_2(train(tmp_path, f"jsonl:{tmp_path / 'missing.jsonl'}"), "does not exist")
    assert (tmp_path / "run").is_dir()


# ---- 2. encodings ----------------------------------------------------------------------------------
def test_non_utf8_jsonl_names_the_file_and_line(fake_plugin: None, tmp_path: Path) -> None:
    data = jsonl(tmp_path, ["a.png", "b.png"])
    lines = data.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"what color?", b"quelle couleur \xe9?")  # Latin-1, not UTF-8
    data.write_bytes(b"\n".join(lines))
    one_sentence_exit_2(train(tmp_path, f"jsonl:{data}"), f"Line 2 of '{data}' is not valid UTF-8",
                        "byte 0xe9")


@pytest.mark.slow
def test_utf8_with_bom_and_unicode_line_separators_still_load(fake_plugin: None, tmp_path: Path) -> None:
    data = jsonl(tmp_path, ["a.png", "b.png"])
    row = json.dumps({"image": "a.png", "question": "wh\u2028at?", "answer": "r\u00e9d"}, ensure_ascii=False)
    data.write_bytes(b"\xef\xbb\xbf" + row.encode() + b"\n" + data.read_bytes())
    assert train(tmp_path, f"jsonl:{data}").exit_code == 0
    rows = build_dataset(f"jsonl:{data}", "skip", 0)
    assert len(rows) == 3 and (rows[0]["question"], rows[0]["answer"]) == ("wh\u2028at?", "r\u00e9d")  # the BOM row


# ---- 4. field types (JSONL) ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"image": "a.png", "question": "q", "answer": ["red", "blue"]}, "'answer' must be a string, got a list"),
        ({"image": "a.png", "question": None, "answer": "red"}, "'question' must be a string, got null"),
        ({"image": 7, "question": "q", "answer": "red"}, "'image' must be a string, got a number (7)"),
        ({"image": "a.png", "question": "q", "answer": 2}, "'answer' must be a string, got a number (2)"),
        ({"image": "a.png", "question": "q", "answer": " "}, "'answer' must not be empty"),
        ({"image": "a.png", "question": "q", "answers": []}, "'answers' must be a non-empty list of strings"),
        ({"image": "a.png", "question": "q", "answers": ["a", None]},
         "answers[1] must be a non-empty string, got null"),
        ({"image": "a.png", "question": "q", "answer": "red", "id": 1.5}, "'id' must be a string or an integer"),
        ({"image": "a.png", "answer": "red"}, "has no 'question'"),
        (["a.png", "q", "red"], "is a list, not a JSON object"),
        ('{"image": "a.png", "question": "q", "answer": "red"', "is not valid JSON"),
    ],
)
def test_wrong_jsonl_fields_name_the_line_and_key(fake_plugin: None, tmp_path: Path, row: object,
                                                   message: str) -> None:
    data = jsonl(tmp_path, ["a.png", "b.png"])
    data.write_text(data.read_text() + "\n" + (row if isinstance(row, str) else json.dumps(row)) + "\n")
    one_sentence_exit_2(train(tmp_path, f"jsonl:{data}"), f"Line 4 of '{data}'", message)


# ---- 3 and 4. the VQAv2 layout ---------------------------------------------------------------------
def vqav2(root: Path, questions: object, annotations: object) -> tuple[Path, Path]:
    (root / "train2014").mkdir(exist_ok=True)
    Image.new("RGB", (12, 10), (200, 10, 10)).save(root / "train2014" / "COCO_train2014_000000000042.jpg")
    qfile, afile = root / "v2_OpenEnded_mscoco_train2014_questions.json", root / "v2_mscoco_train2014_annotations.json"
    for f, content in ((qfile, questions), (afile, annotations)):
        f.write_text(content if isinstance(content, str) else json.dumps(content))
    return qfile, afile


GOOD_Q = {"questions": [{"image_id": 42, "question": "what color?", "question_id": 7}]}
GOOD_A = {"annotations": [{"question_id": 7, "image_id": 42, "multiple_choice_answer": "red"}]}


@pytest.mark.parametrize(
    ("questions", "annotations", "file", "message"),
    [
        ('{"questions": [', GOOD_A, "q", "is not valid JSON (Expecting value at line 1, column 16)"),
        ({}, GOOD_A, "q", "has no 'questions' list (its top level is an object with keys [])"),
        (GOOD_Q, [], "a", "has no 'annotations' list (its top level is a list)"),
        ({"questions": {"a": 1}}, GOOD_A, "q", "'questions' must be a list, got an object"),
        ({"questions": [3]}, GOOD_A, "q", "questions[0] must be an object, got a number (3)"),
        ({"questions": [{"image_id": 42, "question": None, "question_id": 7}]}, GOOD_A, "q",
         "questions[0]: 'question' must be a string, got null"),
        ({"questions": [{"image_id": "42", "question": "q", "question_id": 7}]}, GOOD_A, "q",
         "questions[0]: 'image_id' must be an integer, got a string ('42')"),
        (GOOD_Q, {"annotations": [{"question_id": 7, "multiple_choice_answer": ["red"]}]}, "a",
         "annotations[0]: 'multiple_choice_answer' must be a string, got a list"),
        (GOOD_Q, {"annotations": [{"question_id": 8, "multiple_choice_answer": "red"}]}, "q",
         "None of the 1 questions in"),
    ],
)
def test_malformed_vqav2_files_name_the_file(fake_plugin: None, tmp_path: Path, questions: object,
                                             annotations: object, file: str, message: str) -> None:
    qfile, afile = vqav2(tmp_path, questions, annotations)
    one_sentence_exit_2(train(tmp_path, f"vqav2:{tmp_path}"), f"'{qfile if file == 'q' else afile}'", message)


def test_non_utf8_vqav2_file_names_it(fake_plugin: None, tmp_path: Path) -> None:
    qfile, _ = vqav2(tmp_path, GOOD_Q, GOOD_A)
    qfile.write_bytes(qfile.read_bytes().replace(b"what", b"wh\xff"))
    one_sentence_exit_2(train(tmp_path, f"vqav2:{tmp_path}"), f"'{qfile}' is not valid UTF-8")


def test_good_vqav2_trains(fake_plugin: None, tmp_path: Path) -> None:
    vqav2(tmp_path, GOOD_Q, GOOD_A)
    assert train(tmp_path, f"vqav2:{tmp_path}").exit_code == 0
    (row,) = build_dataset(f"vqav2:{tmp_path}", "skip", 0)
    assert (row["question"], row["answer"], tuple(row["image"].shape[-2:])) == ("what color?", "red", (10, 12))


# ---- 5. every image unreadable -----------------------------------------------------------------------
def test_all_images_unreadable_is_said_before_the_model_loads(fake_plugin: None, tmp_path: Path) -> None:
    data = jsonl(tmp_path, ["a.png", "b.png", "c.png"])
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(b"not an image")
    text = one_sentence_exit_2(train(tmp_path, f"jsonl:{data}"),
                               f"None of the 3 images checked in '{data}' can be read", "a.png")
    assert "non-finite" not in text and not (tmp_path / "run" / "metrics.jsonl").exists()
    missing = jsonl(tmp_path, ["a.png"], name="moved.jsonl")
    missing.write_text(missing.read_text().replace("a.png", "elsewhere/a.png"))
    one_sentence_exit_2(train(tmp_path, f"jsonl:{missing}"), "None of the 1 images checked", "elsewhere/a.png")


class _Blank:
    """A third-party data source none of whose images decode (it reports each as ``image: None``)."""

    @hookimpl
    def unigame_register_datasets(self, datasets: Registry) -> None:
        datasets.add("blank", f"{__name__}:blank_source", help="unreadable images (tests)")


def blank_source(location: str, *, image_errors: str = "skip", seed: int = 0) -> list[dict[str, object]]:
    return [{"id": i, "image": None, "question": "q", "answer": "a"} for i in range(int(location))]


def test_all_images_unreadable_while_training_is_not_reported_as_non_finite(fake_plugin: None,
                                                                            tmp_path: Path) -> None:
    plugins.register_plugin(_Blank(), "blank")
    try:
        result = train(tmp_path, "blank:40", "train.batch_size=4", "train.steps=30")
    finally:
        plugins.unregister_plugin("blank")
    text = one_sentence_exit_2(result, "None of the first 16 training images could be read")
    assert "non-finite" not in text
