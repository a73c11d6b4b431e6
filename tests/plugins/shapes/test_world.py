"""Tests for the procedural shapes world (generator, renderer, questions, datasets)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import torch

from unigame_shapes.dataset import ShapesCaptionDataset, ShapesVQADataset
from unigame_shapes.world import (
    BACKGROUNDS, COLOURS, HELD_OUT_COMBOS, MIN_DX, QUESTION_KINDS, SHIFT_BACKGROUNDS,
    SHIFT_SIZES, SIZE_RADIUS, SIZES, SPLITS, Obj, Scene, ShapesWorld, caption,
    caption_questions, questions, render, sample_qa, sample_scene, tokenize_words, vocabulary,
)

SEEN = ("train", "val", "test")
NUM = {"one": 1, "two": 2, "three": 3, "four": 4}


def oracle(scene: Scene, question: str) -> str:
    """Independent reference answer for every question template."""
    objs = scene.objects
    if question == "how many shapes are there?":
        return ["zero", "one", "two", "three", "four"][len(objs)]
    if m := re.fullmatch(r"what color is the (\w+)\?", question):
        (hit,) = [o for o in objs if o.shape == m[1]]  # must be unique
        return hit.colour
    if m := re.fullmatch(r"what shape is the (\w+) object\?", question):
        (hit,) = [o for o in objs if o.colour == m[1]]
        return hit.shape
    if m := re.fullmatch(r"is there an? (\w+) (\w+)\?", question):
        return "yes" if any(o.combo == (m[1], m[2]) for o in objs) else "no"
    if m := re.fullmatch(r"is the (\w+) (\w+) (left|right) of the (\w+) (\w+)\?", question):
        (a,) = [o for o in objs if o.combo == (m[1], m[2])]
        (b,) = [o for o in objs if o.combo == (m[4], m[5])]
        return "yes" if (a.x < b.x) == (m[3] == "left") else "no"
    raise AssertionError(f"unexpected question {question!r}")


def all_qas(scene: Scene, n_rngs: int = 40) -> dict[str, str]:
    """question -> answer over many rng draws (answers must be consistent)."""
    seen: dict[str, str] = {}
    for i in range(n_rngs):
        for q, a, _ in questions(scene, np.random.default_rng(i)):
            assert seen.setdefault(q, a) == a
    return seen


TWO = Scene((Obj("circle", "red", "small", 0.2, 0.3), Obj("square", "green", "large", 0.7, 0.6)), "gray")


def test_determinism_and_distinct_indices():
    a, b = ShapesWorld(seed=3).sample("train", 7), ShapesWorld(seed=3).sample("train", 7)
    assert a.image.tobytes() == b.image.tobytes()
    fields = ("id", "question", "answer", "kind", "caption", "scene")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    w = ShapesWorld(seed=3)
    images = {w.sample("train", i).image.tobytes() for i in range(8)}
    assert len(images) == 8
    others = [w.sample(s, 7).image.tobytes() for s in SPLITS]
    others.append(ShapesWorld(seed=4).sample("train", 7).image.tobytes())
    assert len(set(others)) == len(others)
    assert w.caption_sample("val", 2) == (w.sample("val", 2).caption, w.sample("val", 2).scene)


def test_render_hand_built_scene():
    scene = Scene((Obj("circle", "red", "large", 0.25, 0.25), Obj("square", "blue", "large", 0.75, 0.25),
                   Obj("triangle", "green", "large", 0.25, 0.75),
                   Obj("diamond", "yellow", "small", 0.75, 0.75)), "navy")
    size = 64
    img = render(scene, size)
    assert img.dtype == np.uint8 and img.shape == (size, size, 3)
    assert np.array_equal(img, render(scene, size))
    bg = BACKGROUNDS["navy"]
    px = lambda x, y: tuple(img[int(y * size), int(x * size)])  # noqa: E731
    for o in scene.objects:
        assert px(o.x, o.y) == COLOURS[o.colour], o
    for corner in [(0, 0), (0, size - 1), (size - 1, 0), (size - 1, size - 1)]:
        assert tuple(img[corner]) == bg
    r = SIZE_RADIUS["large"]
    assert px(0.25 - r + 0.01, 0.75 - r + 0.01) == bg  # triangle bbox top-left corner
    assert px(0.25 + r - 0.01, 0.75 - r + 0.01) == bg  # ... and top-right
    assert px(0.25, 0.75 - r + 0.02) == COLOURS["green"]  # apex region is filled
    assert px(0.25, 0.75 + 0.75 * r) == bg  # below the triangle's base (at r / 2)
    rs = SIZE_RADIUS["small"]
    assert px(0.75 - rs + 0.01, 0.75 - rs + 0.01) == bg  # diamond bbox corner
    assert px(0.75 - r + 0.02, 0.25 - r + 0.02) == bg  # square is inscribed: bbox corner empty
    assert px(0.75 + 0.6 * r, 0.25 + 0.6 * r) == COLOURS["blue"]  # square corner region filled
    assert px(0.25 + 0.85 * r, 0.25 + 0.85 * r) == bg  # circle does not fill its bbox corner
    assert {tuple(c) for c in img.reshape(-1, 3)} == {bg, *(COLOURS[o.colour] for o in scene.objects)}
    assert tuple(render(Scene((), "white"), 8)[3, 3]) == SHIFT_BACKGROUNDS["white"]


def test_caption_and_caption_questions():
    assert caption(TWO) == "a small red circle and a large green square on a gray background"
    three = Scene((Obj("diamond", "orange", "large", 0.8, 0.2), *TWO.objects), "black")
    assert caption(three) == ("a small red circle, a large green square and a large orange diamond"
                              " on a black background")
    cq = dict(caption_questions(three))
    assert cq["how many shapes are there?"] == "three"
    assert cq["is there a red circle?"] == cq["is there an orange diamond?"] == "yes"
    assert cq["what color is the diamond?"] == "orange"
    assert sum(a == "no" for a in cq.values()) >= 1
    for q, a in caption_questions(three):
        assert oracle(three, q) == a
        assert all(f"{c} {s}" not in q for c, s in HELD_OUT_COMBOS)  # seen scene: no held-out mentions


def test_answers_two_objects_every_template():
    qa = all_qas(TWO)
    assert qa["how many shapes are there?"] == "two"
    assert qa["what color is the circle?"] == "red" and qa["what color is the square?"] == "green"
    assert qa["what shape is the red object?"] == "circle"
    assert qa["what shape is the green object?"] == "square"
    assert qa["is there a red circle?"] == "yes"
    assert qa["is the red circle left of the green square?"] == "yes"
    assert qa["is the red circle right of the green square?"] == "no"
    assert qa["is the green square left of the red circle?"] == "no"
    assert qa["is the green square right of the red circle?"] == "yes"
    assert "no" in {a for q, a in qa.items() if q.startswith("is there")}
    for q, a in qa.items():
        assert oracle(TWO, q) == a


def test_templates_only_when_unambiguous():
    dup = Scene((Obj("circle", "red", "small", 0.1, 0.2), Obj("circle", "blue", "small", 0.5, 0.2),
                 Obj("square", "red", "large", 0.8, 0.7)), "gray")
    qa = all_qas(dup)
    assert qa["what color is the square?"] == "red" and "what color is the circle?" not in qa
    assert qa["what shape is the blue object?"] == "circle" and "what shape is the red object?" not in qa
    assert qa["how many shapes are there?"] == "three"
    for q, a in qa.items():
        assert oracle(dup, q) == a
    single = Scene((Obj("triangle", "purple", "small", 0.5, 0.5),), "black")
    kinds = {k for _, _, k in questions(single, np.random.default_rng(0))}
    assert kinds == {"count", "color", "shape", "exist"}
    grid = Scene(tuple(Obj(s, c, "small", x, y) for (s, c, x, y) in
                       [("circle", "red", 0.1, 0.2), ("square", "red", 0.35, 0.8),
                        ("circle", "blue", 0.6, 0.2), ("square", "blue", 0.85, 0.8)]), "gray")
    assert {k for _, _, k in questions(grid, np.random.default_rng(0))} == {"count", "exist", "relation"}


def test_sample_qa_uniform_over_kinds():
    kinds = Counter(sample_qa(TWO, np.random.default_rng(i))[2] for i in range(500))
    assert set(kinds) == set(QUESTION_KINDS)
    assert all(60 <= n <= 140 for n in kinds.values()), kinds


def _check_geometry(scene: Scene) -> None:
    objs = scene.objects
    assert 1 <= len(objs) <= 4
    assert len({o.combo for o in objs}) == len(objs)
    for i, a in enumerate(objs):
        r = SIZE_RADIUS[a.size]
        assert r <= a.x <= 1 - r and r <= a.y <= 1 - r
        for b in objs[i + 1:]:
            assert abs(a.x - b.x) >= MIN_DX
            assert np.hypot(a.x - b.x, a.y - b.y) >= r + SIZE_RADIUS[b.size]


def test_held_out_combos_and_shift():
    w = ShapesWorld(seed=1)
    counts = Counter()
    for split in SEEN:
        for i in range(300):
            scene = w.caption_sample(split, i)[1]
            _check_geometry(scene)
            counts[len(scene.objects)] += 1
            assert not any(o.combo in HELD_OUT_COMBOS for o in scene.objects)
            assert scene.background in BACKGROUNDS and all(o.size in SIZES for o in scene.objects)
            if i < 100:
                for q, _, _ in questions(scene, np.random.default_rng(i)):
                    assert all(f"{c} {s}" not in q for c, s in HELD_OUT_COMBOS)
    assert set(counts) == {1, 2, 3, 4}
    backgrounds, sizes = set(), set()
    for i in range(200):
        scene = w.caption_sample("shift", i)[1]
        _check_geometry(scene)
        assert any(o.combo in HELD_OUT_COMBOS for o in scene.objects)
        assert scene.background in SHIFT_BACKGROUNDS
        backgrounds.add(scene.background)
        sizes.update(o.size for o in scene.objects)
    assert backgrounds == set(SHIFT_BACKGROUNDS) and set(SHIFT_SIZES) <= sizes


def test_vocabulary_covers_generated_text():
    vocab = vocabulary()
    assert vocab == sorted(set(vocab)) == vocabulary()
    assert tokenize_words("How many shapes?") == ["how", "many", "shapes", "?"]
    assert tokenize_words("a red, a blue.") == ["a", "red", ",", "a", "blue", "."]
    vset, w = set(vocab), ShapesWorld(seed=2)
    for i in range(500):
        split = SPLITS[i % len(SPLITS)]
        cap, scene = w.caption_sample(split, i)
        texts = [cap] + [t for q, a, _ in questions(scene, np.random.default_rng(i)) for t in (q, a)]
        texts += [t for qa in caption_questions(scene) for t in qa]
        for t in texts:
            assert set(tokenize_words(t)) <= vset, t
    for i in range(20):
        s = w.sample("train", i)
        assert oracle(s.scene, s.question) == s.answer and s.kind in QUESTION_KINDS


def test_existence_balanced():
    w = ShapesWorld(seed=5)
    answers = []
    for i in range(400):
        scene = w.caption_sample("train", i)[1]
        answers += [a for q, a, k in questions(scene, np.random.default_rng(i)) if k == "exist"]
    assert len(answers) == 400
    assert 0.4 <= answers.count("yes") / 400 <= 0.6


def test_unknown_split_raises():
    for call in (lambda: ShapesWorld().sample("bogus", 0),
                 lambda: sample_scene(np.random.default_rng(0), "bogus"),
                 lambda: ShapesWorld().caption_sample("dev", 0),
                 lambda: ShapesVQADataset("bogus", 2)):
        with pytest.raises(ValueError, match="train"):
            call()


def test_datasets():
    ds = ShapesVQADataset("val", 3, seed=4, image_size=32)
    assert len(ds) == 3
    item = ds[1]
    s = ShapesWorld(seed=4, image_size=32).sample("val", 1)
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 32, 32)
    assert torch.equal(item["image"].permute(1, 2, 0), torch.from_numpy(s.image))
    assert (item["id"], item["question"], item["answer"], item["answers"], item["kind"]) == (
        s.id, s.question, s.answer, [s.answer], s.kind)
    with pytest.raises(IndexError, match="index 3 out of range for length 3"):
        ds[3]
    cds = ShapesCaptionDataset("shift", 2)
    c = cds[0]
    assert len(cds) == 2 and isinstance(c["id"], str) and isinstance(c["caption"], str)
    assert c["image"].dtype == torch.uint8 and c["image"].shape == (3, 64, 64)
    assert c["questions"] and all(isinstance(q, str) and isinstance(a, str) for q, a in c["questions"])
