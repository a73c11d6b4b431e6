"""Over-long questions and answers are cut to the model's context, counted in a warning (issue 15).

One 100 KB question once drove RSS to 23.6 GB and an out-of-memory kill: the policy lives in
``unigame_core.prompts.pack_rows``; a backend only declares its context (``Understander.context_length``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from unigame_core import prompts
from unigame_core.cli.main import app
from unigame_core.prompts import pack_rows

HUGE = "is the red square left of the blue circle " * 2500  # 105,000 characters, 22,500 words


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    prompts.truncated.update(questions=0, answers=0)


def test_pack_rows_cuts_the_question_end_and_keeps_the_template_tail(caplog: pytest.LogCaptureFixture) -> None:
    prefix, tail, eos = [1, 2, 3], [8, 9], 7
    long_prompt, short_prompt = [*range(100, 200), *tail], [50, *tail]
    with caplog.at_level(logging.WARNING, "unigame_core.prompts"):
        batch = pack_rows(prefix, [long_prompt, short_prompt], [[40, 41, eos], [42, eos]], 0, context=20, keep_tail=2)
    assert batch.input_ids.shape == (2, 20)
    assert batch.input_ids[0].tolist() == [1, 2, 3, *range(100, 112), 8, 9, 40, 41, 7]  # question cut, tail kept
    assert batch.input_ids[1, -8:].tolist() == [1, 2, 3, 50, 8, 9, 42, 7]  # short rows are untouched
    assert batch.answer_mask[0].sum() == 3 and batch.attention_mask[1].sum() == 3 + 3 + 2
    assert prompts.truncated == {"questions": 1, "answers": 0}
    assert "Question too long for the model's 20-token context: cut to 14 tokens (1 questions cut so far)" in caplog.text


def test_pack_rows_cuts_an_over_long_answer_keeping_eos_and_reserves_room_to_generate() -> None:
    batch = pack_rows([1], [[5, 9]], [[*range(100, 200), 7]], 0, context=21, keep_tail=1)
    row = batch.input_ids[0].tolist()
    assert len(row) == 13 and row[-1] == 7 and batch.answer_mask[0].sum() == 10  # half the room, EOS last
    assert prompts.truncated == {"questions": 0, "answers": 1}
    gen = pack_rows([1], [[*range(100, 150), 9]], [[]], 0, context=21, keep_tail=1, reserve=5)
    assert gen.input_ids.shape[1] == 16 and gen.input_ids[0, -1] == 9  # 21 - 5 left for 5 new tokens
    assert pack_rows([1], [[5, 9]], [[6, 7]], 0).input_ids.tolist() == [[1, 5, 9, 6, 7]]  # no context: untouched


def test_warnings_are_counted_without_flooding(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "unigame_core.prompts"):
        for _ in range(9):
            pack_rows([1], [[*range(100, 150), 9]], [[7]], 0, context=10, keep_tail=1)
    assert prompts.truncated["questions"] == 9
    assert [r.getMessage().rsplit("(", 1)[1] for r in caplog.records] == [
        f"{n} questions cut so far)" for n in (1, 2, 4, 8)]


@pytest.fixture(scope="module")
def tiny_janus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unigame_janus.tiny import write_tiny_checkpoint

    words = ("red green blue yellow circle square left right of the is what color box",)
    return write_tiny_checkpoint(tmp_path_factory.mktemp("janus") / "tiny", words=words, image_size=16, patch_size=4)


def test_tiny_janus_declares_its_context_and_caps_a_100kb_question(tiny_janus: Path) -> None:
    from unigame_janus.backend import JanusBackend
    from unigame_janus.settings import JanusSettings

    backend = JanusBackend(JanusSettings(checkpoint=str(tiny_janus)))
    und = backend.understander
    assert und.context_length == 1024  # the tiny config's max_position_embeddings
    train = und.prompts.build([HUGE, "what color is the box?"], ["red", "blue"])
    assert train.input_ids.shape[1] == 1024 and train.answer_mask.sum(1).tolist() == [2, 2]  # answer + EOS intact
    tail = und.prompts.tail_tokens
    short = und.prompts.build(["what color is the box?"], ["red"]).input_ids[0]
    assert train.input_ids[0, -2 - tail:].tolist() == short[-2 - tail:].tolist()  # "...<|Assistant|>: red<eos>"
    loss = und.answer_loss(und.embed_images(torch.rand(2, 3, 16, 16)), [HUGE, "what color?"], ["red", "blue"])
    assert loss.shape == (2,) and torch.isfinite(loss).all()
    answers = und.generate(torch.rand(1, 3, 16, 16), [HUGE], max_new_tokens=3)
    assert len(answers) == 1 and prompts.truncated["questions"] == 3


@pytest.mark.slow
def test_train_with_a_100kb_question_warns_and_counts(tiny_janus: Path, tmp_path: Path) -> None:
    rows = []
    for i, colour in enumerate(("red", "green", "blue", "yellow")):
        Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"image": f"{i}.png", "question": HUGE if i == 0 else "what color is the box?", "answer": colour})
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    result = CliRunner().invoke(app, [
        "train", "--model", str(tiny_janus), "--data", f"jsonl:{data}", "--output", str(tmp_path / "run"),
        "train.steps=1", "train.batch_size=4", "train.device=cpu", "gate.name=none", "train.log_every=1",
        "train.sample_every=0", "train.checkpoint_every=0",
    ])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Question too long for the model's 1024-token context: cut to" in text and "(1 questions cut so far)" in text
    assert prompts.truncated["questions"] >= 1
