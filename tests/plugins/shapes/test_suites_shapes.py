"""The shapes suite (test / shift / attack) and the consistency suite on the fake backends."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from unigame_core.errors import CapabilityError, ConfigError
from unigame_core.testing import FakeBackend
from unigame_shapes.options import ConsistencyOptions, ShapesOptions
from unigame_shapes.suites import ConsistencySuite, ShapesSuite, _pixels, shared_token_attack
from unigame_shapes.world import ShapesWorld, caption_questions

pytestmark = pytest.mark.usefixtures("suite_env")  # tests/plugins/conftest.py: no answer cache, one thread


def _yes_share(split: str, n: int, seed: int = 0) -> float:
    world = ShapesWorld(seed)
    return sum(world.sample(split, i).answer == "yes" for i in range(n)) / n


def test_shapes_accuracy_per_split(backend: FakeBackend, script: Any) -> None:
    calls = script(backend, lambda q: "Yes.")
    suite = ShapesSuite(ShapesOptions(samples=8, attack="adaptive", attack_steps=1), None)
    suite.check_data()
    result = suite.evaluate(backend, limit=None, batch_size=8)
    assert result.n == 24 and calls == [(8, 4)] * 3  # test, shift, attack: one batch each
    assert result.metrics == pytest.approx({
        "test_accuracy": _yes_share("test", 8), "shift_accuracy": _yes_share("shift", 8),
        "attack_accuracy": _yes_share("test", 8), "unreadable_images": 0.0})
    ids = [p["id"] for p in result.predictions]
    assert ids[0] == "shapes-0-test-0" and ids[8] == "shapes-0-shift-0" and ids[16] == "shapes-0-test-0-attack"
    assert result.predictions[0]["question"] == ShapesWorld(0).sample("test", 0).question  # no suffix
    assert {"kind", "score", "references"} <= set(result.predictions[0])


def test_fixed_attack_split_is_the_shipped_one(backend: FakeBackend, script: Any) -> None:
    from unigame_shapes.attack import attack_samples

    script(backend, lambda q: "Yes.")
    result = ShapesSuite(ShapesOptions(samples=8), None).evaluate(backend, limit=None, batch_size=8)
    shipped = attack_samples()[:8]
    assert result.metrics["attack_accuracy"] == pytest.approx(sum(s.answer == "yes" for s in shipped) / 8)
    assert [p["id"] for p in result.predictions[16:]] == [s.id for s in shipped]
    with pytest.raises(ConfigError, match="attack"):
        ShapesSuite(ShapesOptions(attack="pgd"), None).check_data()


def test_shapes_limit_is_shared_between_splits(backend: FakeBackend) -> None:
    result = ShapesSuite(ShapesOptions(samples=50, attack_steps=1), None).evaluate(backend, limit=5, batch_size=4)
    assert result.n == 5 and result.details["samples_per_split"] == {"test": 2, "shift": 2, "attack": 1}
    assert set(result.metrics) == {"test_accuracy", "shift_accuracy", "attack_accuracy", "unreadable_images"}
    assert all(0.0 <= v <= 1.0 for k, v in result.metrics.items() if k.endswith("accuracy"))
    with pytest.raises(ConfigError, match="needs samples >= 1"):
        ShapesSuite(ShapesOptions(samples=0), None).check_data()


def test_attack_stays_in_bound_and_raises_the_loss(backend: FakeBackend) -> None:
    world = ShapesWorld(0)
    samples = [world.sample("test", i) for i in range(4)]
    pixels = _pixels(backend, [s.image for s in samples])
    questions, answers = [s.question for s in samples], [s.answer for s in samples]
    und = backend.understander
    clean = backend.decoder.decode(backend.encoder.encode(pixels))
    assert torch.allclose(shared_token_attack(backend, pixels, questions, answers, eps=0.0, steps=3), clean)
    adv = shared_token_attack(backend, pixels, questions, answers, eps=0.5, steps=3)
    assert adv.shape == pixels.shape and 0.0 <= float(adv.min()) and float(adv.max()) <= 1.0
    with torch.no_grad():
        before = und.answer_loss(und.embed_images(clean), questions, answers).sum()
        after = und.answer_loss(und.embed_images(adv), questions, answers).sum()
    assert after > before


def test_consistency_agreement(generating_backend: FakeBackend, script: Any) -> None:
    script(generating_backend, lambda q: "yes")
    suite = ConsistencySuite(ConsistencyOptions(captions=4), None)
    suite.check_data()
    result = suite.evaluate(generating_backend, limit=None, batch_size=3)
    world = ShapesWorld(0)
    asked = [caption_questions(world.caption_sample("test", i)[1]) for i in range(4)]
    answers = [a for qs in asked for _, a in qs]
    assert result.n == len(answers) and result.details["images"] == 4
    assert result.metrics["agreement"] == pytest.approx(answers.count("yes") / len(answers))
    assert result.metrics["image_consistency"] == 0.0  # every image is asked "how many shapes?"
    first = result.predictions[0]
    assert first["id"] == "0/0" and first["image_id"] == "0" and first["caption"] == world.caption_sample("test", 0)[0]


def test_consistency_limit_and_capability(generating_backend: FakeBackend, backend: FakeBackend) -> None:
    result = ConsistencySuite(ConsistencyOptions(captions=50), None).evaluate(generating_backend, limit=5, batch_size=8)
    assert result.n == 5 and result.details["images"] <= 2  # each caption asks at least 3 questions
    with pytest.raises(CapabilityError, match="text_to_image"):
        ConsistencySuite(ConsistencyOptions(), None).evaluate(backend, limit=2, batch_size=2)


def test_suites_are_registered_by_the_shapes_plugin() -> None:
    from unigame_core import plugins
    from unigame_shapes.plugin import TASKS_DIR

    registry = plugins.suites()
    for name, config in {"shapes": ShapesOptions, "consistency": ConsistencyOptions}.items():
        entry = registry.get(name)
        assert entry.plugin == "shapes" and entry.config is config and entry.extra.lm_eval_tasks == TASKS_DIR
        assert entry.load() is {"shapes": ShapesSuite, "consistency": ConsistencySuite}[name]
        assert entry.extra.file == f"unigame_core.configs:suites/{name}.yaml"
    assert registry.get("consistency").extra.requires == ("text_to_image",)
    assert registry.get("shapes").extra.requires == ()


def test_task_folder_holds_the_shapes_tasks_and_they_load() -> None:
    from unigame_core.errors import DataError
    from unigame_core.eval.tasks import task_manager
    from unigame_shapes.plugin import TASKS_DIR

    manager = task_manager([TASKS_DIR], {"shapes_samples": 2})
    assert set(manager.all_subtasks) == {"unigame_shapes_test", "unigame_shapes_shift", "unigame_shapes_attack",
                                         "unigame_shapes_nuisance", "unigame_shapes_val", "unigame_consistency"}
    for task in ("unigame_shapes_test", "unigame_shapes_shift", "unigame_shapes_nuisance", "unigame_shapes_val"):
        built = manager.load([task])["tasks"][task]
        doc = built.test_docs()[0]
        assert built.OUTPUT_TYPE == "generate_until" and isinstance(doc["image"], bytes) and doc["kind"]
        assert len(built.test_docs()) == 2 and built.doc_to_text(doc) == doc["question"]
    with pytest.raises(DataError, match="unigame eval --suite shapes"):
        manager.load(["unigame_shapes_attack"])


def test_shapes_limit_is_exact(backend: FakeBackend) -> None:
    result = ShapesSuite(ShapesOptions(samples=50, splits=["test", "shift", "val"]), None).evaluate(
        backend, limit=50, batch_size=64)
    assert result.n == 50 and result.details["samples_per_split"] == {"test": 17, "shift": 17, "val": 16}
    assert [sum(p["split"] == s for p in result.predictions) for s in ("test", "shift", "val")] == [17, 17, 16]


def test_image_consistency_has_the_number_of_images_as_n(generating_backend: FakeBackend, script: Any) -> None:
    from unigame_core.eval.report import SuiteTiming, results_document

    script(generating_backend, lambda q: "yes")
    result = ConsistencySuite(ConsistencyOptions(captions=4), None).evaluate(generating_backend, limit=None,
                                                                            batch_size=4)
    doc = results_document({"consistency": result}, {"consistency": SuiteTiming(1.0, result.n)}, model="m",
                           backend={}, adapter=None, data_root=None, limit=None, batch_size=4)
    n_of = {row["metric"]: row["n"] for row in doc["results"]}
    assert result.n > 4 and n_of["agreement"] == result.n
    assert n_of["image_consistency"] == 4 == result.details["images"]
    limited = ConsistencySuite(ConsistencyOptions(captions=50), None).evaluate(generating_backend, limit=5,
                                                                              batch_size=8)
    images = len({p["image_id"] for p in limited.predictions})
    assert limited.details["images"] == images  # the images whose questions were scored, not those generated


def test_scenes_are_the_same_size_through_lm_eval_and_unigame_eval() -> None:
    """``python -m unigame_core.lm_eval --tasks unigame_shapes_test`` (no metadata) renders the scenes at the
    size ``unigame eval --suite shapes`` uses (the suite's default ``image_size``)."""
    import io

    from PIL import Image

    from unigame_core.eval.tasks import task_manager
    from unigame_shapes.plugin import TASKS_DIR

    doc = task_manager([TASKS_DIR], {"shapes_samples": 1}).load(["unigame_shapes_test"])["tasks"][
        "unigame_shapes_test"].test_docs()[0]
    size = ShapesOptions().image_size
    assert Image.open(io.BytesIO(doc["image"])).size == (size, size)
    assert ShapesWorld(0, image_size=size).sample("test", 0).image.shape[:2] == (size, size)
    from unigame_shapes import suites

    assert suites._world(0).image_size == size  # the consistency suite's world, too
