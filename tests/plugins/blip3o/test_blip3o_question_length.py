"""BLIP3-o follows the core's length policy (``pack_rows`` up to ``Understander.context_length``): a 100 KB
question is cut, counted in a warning, and training goes on (see tests/data/test_question_length.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from unigame_core import prompts

HUGE = "is the red square left of the blue circle " * 2500  # 105,000 characters
CONTEXT = 2048  # the tiny checkpoint's max_position_embeddings


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    prompts.truncated.update(questions=0, answers=0)


def test_understander_declares_its_context_and_cuts_a_100kb_question(backend, images) -> None:
    und = backend.understander
    assert und.context_length == CONTEXT
    train = und.prompts.build([HUGE, "what color is the square?"], ["red", "blue"])
    assert train.input_ids.shape[1] == CONTEXT and train.answer_mask.sum(1).tolist() == [2, 2]  # answer + EOS
    tail = und.prompts.tail_tokens
    short = und.prompts.build(["what color?"], ["red"]).input_ids[0]
    assert train.input_ids[0, -2 - tail:].tolist() == short[-2 - tail:].tolist()  # "<|im_end|>...assistant\nred"
    assert train.input_ids[0, :len(und.prompts.prefix_ids)].tolist() == und.prompts.prefix_ids  # image block whole
    _, pixels = images
    loss = und.answer_loss(und.embed_images(pixels), [HUGE, "what color?"], ["red", "blue"])
    assert loss.shape == (2,) and torch.isfinite(loss).all()
    generated = und.prompts.build([HUGE], reserve=5)
    assert generated.input_ids.shape[1] == CONTEXT - 5  # room left for the answer
    assert prompts.truncated["questions"] == 3


def test_train_with_a_100kb_question_warns_and_proceeds(tiny_dir, tmp_path) -> None:
    from unigame_core.cli.main import app

    rows = []
    for i, colour in enumerate(("red", "green")):
        Image.new("RGB", (16, 16), (200 * (i == 0), 200 * (i == 1), 0)).save(tmp_path / f"{i}.png")
        question = HUGE if i == 0 else "what color is the square?"
        rows.append({"image": f"{i}.png", "question": question, "answer": colour})
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--model", str(tiny_dir), "--data", f"jsonl:{data}", "--output", str(out), "train.steps=1",
        "train.batch_size=2", "train.device=cpu", "gate.name=none", "train.log_every=1", "train.sample_every=0",
        "train.checkpoint_every=0", "backend.decoder_steps=2", "backend.dit_steps=2"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    text = " ".join(result.output.split())
    assert f"Question too long for the model's {CONTEXT}-token context: cut to" in text
    assert "(1 questions cut so far)" in text and prompts.truncated["questions"] >= 1
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 1 and math.isfinite(metrics[-1]["ce_clean"])
