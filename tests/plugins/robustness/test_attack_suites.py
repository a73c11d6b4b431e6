"""The attack suites on the fake backend, with the shapes suite as their source (built through the registry).

The fake model's greedy answers are scripted: right exactly on the clean images the shapes world renders,
wrong on any other pixels. So what the attacked model was shown can be read off its scores.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from unigame_core import plugins
from unigame_core.errors import ConfigError, UnigameError
from unigame_core.eval.judge import from_results
from unigame_core.eval.runner import build_suite, prepare_suites
from unigame_core.hookspecs import hookimpl
from unigame_core.interfaces import ScoredRows, Suite, SuiteResult
from unigame_core.registry import Registry
from unigame_core.testing import FakeBackend
from unigame_robustness.suite import AttackHook
from unigame_shapes.world import ShapesWorld

SAMPLES = 4


def _key(image: torch.Tensor) -> bytes:
    return (image.float() * (255.0 if image.is_floating_point() else 1.0)).round().to(torch.uint8).numpy().tobytes()


def scripted(backend: FakeBackend) -> FakeBackend:
    """Answers right on the clean test/shift images of the shapes world, wrong on any other pixels."""
    world, transform = ShapesWorld(seed=0, image_size=32), backend.image_transform()
    known: dict[bytes, list[tuple[str, str]]] = {}
    for split in ("test", "shift"):
        for i in range(SAMPLES):
            s = world.sample(split, i)
            image = transform(torch.from_numpy(s.image).permute(2, 0, 1).contiguous()).float() / 255
            known.setdefault(_key(image), []).append((s.question, s.answer))

    def generate(pixels: torch.Tensor, questions: Any, max_new_tokens: int = 4) -> list[str]:
        answers = []
        for image, prompt in zip(pixels, questions):
            matches = [a for q, a in known.get(_key(image), []) if q in prompt]
            answers.append(matches[0] if matches else "unknown")
        return answers

    backend.understander.generate = generate  # type: ignore[method-assign]
    return backend


def run(name: str, backend: FakeBackend, **options: Any) -> SuiteResult:
    settings = {"source_options": {"samples": SAMPLES}, "steps": 3, "attack_batch": 3, **options}
    suite = build_suite(name, None, settings).suite
    suite.check_data()
    return suite.evaluate(backend, limit=None, batch_size=4)


def rows(result: SuiteResult, condition: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in result.predictions if r["condition"] == condition}


def test_pixel_attack_reports_clean_and_robust_per_question_within_eps() -> None:
    backend = scripted(FakeBackend())
    backend.model.requires_grad_(True)  # trainable weights must still receive no gradient
    before = {k: v.clone() for k, v in backend.model.state_dict().items()}
    result = run("attack-pgd:shapes", backend, eps=["0", "8/255"])
    m = result.metrics
    assert m["clean/test_accuracy"] == 1.0 and m["clean/shift_accuracy"] == 1.0  # the script's clean answers
    assert m["robust[0]/test_accuracy"] == 1.0  # eps 0: the very same pixels
    assert m["robust[8/255]/test_accuracy"] == 0.0 and m["robust[8/255]/shift_accuracy"] == 0.0
    assert list(m)[:3] == ["clean/test_accuracy", "robust[0]/test_accuracy", "robust[8/255]/test_accuracy"]
    clean, zero, eight = rows(result, "clean"), rows(result, "robust[0]"), rows(result, "robust[8/255]")
    assert len(clean) == 3 * SAMPLES and set(zero) == set(clean) == set(eight)
    assert all(zero[q]["adversarial_prediction"] == clean[q]["prediction"] for q in clean)
    assert all(eight[q]["score"] <= zero[q]["score"] <= clean[q]["score"] for q in clean)
    attack = result.details["attack"]
    assert attack["8/255"]["attacked"] == 2 * SAMPLES and attack["8/255"]["already_wrong"] == SAMPLES  # fixed split
    assert 0 < attack["8/255"]["max_perturbation"] <= 8 / 255 + 1e-6 and attack["0"]["max_perturbation"] == 0.0
    assert attack["8/255"]["mean_ce_adversarial"] > attack["8/255"]["mean_ce_clean"]
    judged = from_results({"a": result})["a"]
    assert judged.estimate("robust[8/255]/test_accuracy").n == SAMPLES
    assert judged.estimate("clean/test_accuracy").low < 1.0  # a 95 % interval, not a point
    assert all(p.grad is None for p in backend.model.parameters())
    assert all(torch.equal(before[k], v) for k, v in backend.model.state_dict().items())


def test_decoder_attack_reports_the_round_trip_and_attacks_only_what_survived_it() -> None:
    backend = scripted(FakeBackend())
    result = run("attack-decoder:shapes", backend, eps=["0", "0.5"])
    m = result.metrics
    assert m["clean/test_accuracy"] == 1.0 and m["round_trip/test_accuracy"] == 0.0  # decoded pixels are new
    assert m["robust[0]/test_accuracy"] == 0.0 and m["robust[0.5]/test_accuracy"] == 0.0
    clean, trip, zero = rows(result, "clean"), rows(result, "round_trip"), rows(result, "robust[0]")
    for q, row in zero.items():  # nothing attacked: each question is shown the first point it failed on
        shown = clean[q] if row["worst_of"] == "clean" else trip[q]
        assert row["adversarial_prediction"] == shown["prediction"]
        assert row["score"] == min(clean[q]["score"], trip[q]["score"])
    assert result.details["attack"]["0.5"]["attacked"] == 0
    assert result.details["threat_model"]["bound"] == "||delta_i|| <= eps * ||z_i||"


@pytest.mark.parametrize("ball", ["attack-pgd", "attack-decoder"])
def test_the_attack_is_made_against_the_model_with_its_adapter(ball: str) -> None:
    from unigame_core.lora import attach_lora

    backend = FakeBackend()
    suite = build_suite(f"{ball}:shapes", None, {"steps": 3}).suite
    pixels = torch.rand(3, 3, backend.image_size, backend.image_size, generator=torch.Generator().manual_seed(0))
    docs = [{"id": str(i), "target": "red"} for i in range(3)]
    eps = 8 / 255 if ball == "attack-pgd" else 0.2
    plain = AttackHook(suite, backend, eps, {}, lambda n: None)(pixels, ["what color?"] * 3, docs)
    attach_lora(backend, 4, 8, 0.0)
    with torch.no_grad():
        for name, p in backend.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
    adapted = AttackHook(suite, backend, eps, {}, lambda n: None)(pixels, ["what color?"] * 3, docs)
    assert not torch.equal(plain, adapted)
    if ball == "attack-pgd":
        assert float((adapted - pixels).abs().max()) <= eps + 1e-6


def test_suite_specs_options_and_mistakes() -> None:
    [run_] = prepare_suites(["attack-pgd"], None, ["attack-pgd.eps=[1/255]"])
    assert run_.name == "attack-pgd:shapes" and run_.options.eps == ["1/255"]
    [run_] = prepare_suites(["attack-decoder:shapes"], None, ["attack-decoder:shapes.source_options={samples: 3}"])
    assert run_.name == "attack-decoder:shapes" and run_.options.source_options == {"samples": 3}
    for specs, settings, message in [
        (["shapes:vqav2"], [], "does not run on another suite"),
        (["attack-pgd:nope"], [], "nope"),
        (["attack-pgd:attack-decoder"], [], "cannot attack the attack suite"),
        (["attack-pgd"], ["attack-pgd.eps=[two]"], "eps 'two'"),
        (["attack-pgd"], ["attack-pgd.restarts=0"], "restarts >= 1"),
        (["attack-pgd"], ["attack-pgd.source_options={colour: 1}"], "no option 'colour'"),
        (["attack-pgd:vqav2"], [], "vqav2"),  # no --data-root: the source says where its data must be
    ]:
        with pytest.raises(UnigameError, match=message):  # a user's mistake: one sentence, exit code 2
            prepare_suites(specs, None, settings)


class DirectSuite(Suite):
    """A suite that answers by calling the model itself, not through lm-eval: nothing to hook into."""

    def __init__(self, options: Any, data_root: Any = None) -> None: ...

    def check_data(self) -> None: ...

    def evaluate(self, backend: Any, *, limit: int | None, batch_size: int) -> SuiteResult:
        row = {"id": "0", "score": 1.0, "prediction": "red"}
        return SuiteResult({"accuracy": 1.0}, 1, [row], {}, {"accuracy": ScoredRows()})


DIRECT = types.ModuleType("unigame_test_direct_suite")
DIRECT.DirectSuite = DirectSuite  # type: ignore[attr-defined]
sys.modules[DIRECT.__name__] = DIRECT


@hookimpl
def _register_direct(suites: Registry) -> None:
    suites.add("direct", "unigame_test_direct_suite:DirectSuite", help="answers without lm-eval")


def test_a_source_that_does_not_answer_through_lm_eval_is_refused() -> None:
    plugins.register_plugin(types.SimpleNamespace(unigame_register_suites=_register_direct), "direct-test")
    try:
        suite = build_suite("attack-pgd:direct", None, {}).suite
        with pytest.raises(ConfigError, match="does not answer through unigame's lm-eval model"):
            suite.evaluate(FakeBackend(), limit=None, batch_size=4)
    finally:
        plugins.unregister_plugin("direct-test")


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unigame_evals.fixtures import write_pope, write_vqav2

    root = tmp_path_factory.mktemp("official")
    write_vqav2(root / "vqav2", n=6)
    write_pope(root / "pope", n=4)
    return root


def test_vqav2_and_pope_sources_keep_their_own_scorers(official: Path) -> None:
    """The fixtures' images are flat colours: the script says 'yes' on a flat image, 'no' on an attacked one."""
    backend = FakeBackend()

    def generate(pixels: torch.Tensor, questions: Any, max_new_tokens: int = 4) -> list[str]:
        flat = pixels.flatten(2).std(2).amax(1) < 1e-6
        return ["yes" if f else "no" for f in flat.tolist()]

    backend.understander.generate = generate  # type: ignore[method-assign]
    for source, metric in (("vqav2", "accuracy"), ("pope", "random/accuracy")):
        suite = build_suite(f"attack-pgd:{source}", official, {"eps": ["0", "8/255"], "steps": 2}).suite
        suite.check_data()
        result = suite.evaluate(backend, limit=None, batch_size=4)
        m = result.metrics
        assert m[f"robust[0]/{metric}"] == m[f"clean/{metric}"] > m[f"robust[8/255]/{metric}"] == 0.0
        if source == "vqav2":  # official VQA accuracy, in percent; one yes/no question in three is right
            assert m["clean/accuracy"] == pytest.approx(100 / 3) and m["clean/accuracy_yes_no"] == 100.0
        else:  # F1 and the yes-ratio: lm-eval's aggregate over the adversarial run, where the "no" questions
            # (answered wrong on clean) were not attacked and kept their "yes", the "yes" ones became "no"
            assert m["clean/random/accuracy"] == 0.5 and m["robust[8/255]/yes_ratio"] == 0.5
            assert m["robust[8/255]/f1"] == 0.0 and m["clean/f1"] == pytest.approx(2 / 3)
