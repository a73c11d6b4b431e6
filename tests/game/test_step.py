"""The game step on the fake backend: each player moves the CE the way it should."""

from __future__ import annotations

import math

import pytest
import torch

from unigame_core.game.adversary import adversary_turn_
from unigame_core.game.players import Players, StepMetrics
from unigame_core.game.step import game_step, understander_turn_
from unigame_core.interfaces import StepPlan, VQABatch
from unigame_core.lora import attach_lora
from unigame_core.run import build
from unigame_core.testing import FakeBackend, FakeSettings, FakeVQA, quick_overrides


def make_players(fake_plugin: None, tmp_path, *extra: str) -> tuple[Players, VQABatch]:  # noqa: ANN001
    from unigame_core.config import build_config

    game = ("game.adversary_fraction=1.0", "game.buffer_fraction=0.5", "optim.grad_clip=1.0", "train.seed=0")
    cfg = build_config("fake-tiny", None, quick_overrides(tmp_path, *game, *extra))
    torch.manual_seed(0)
    backend = FakeBackend(FakeSettings(), "cpu")
    _, lora = attach_lora(backend, 4, 8, 0.0)
    players, _ = build.build_players(cfg, backend, lora, torch.device("cpu"))
    data = FakeVQA(8)
    items = [data[i] for i in range(8)]
    batch = VQABatch(torch.stack([it["image"] for it in items]).float() / 255, [it["question"] for it in items],
                     [it["answer"] for it in items], [it["id"] for it in items])
    return players, batch


def adv_ce(p: Players, batch: VQABatch) -> float:
    with torch.no_grad():
        z = p.backend.encoder.encode(batch.images)
        z_adv, _ = p.perturber(z, p.settings.eps_max)
        emb = p.backend.understander.embed_images(p.backend.decoder.decode(z_adv))
        return float(p.backend.understander.answer_loss(emb, batch.questions, batch.answers).mean())


def test_perturber_steps_raise_ce_on_a_fixed_understander(fake_plugin: None, tmp_path) -> None:  # noqa: ANN001
    # the perturber's own learning, at its own delta (refinement is tested in test_refine.py)
    p, batch = make_players(fake_plugin, tmp_path, "game.lambda_reg=0", "game.refine_steps=0")
    lora_before = [q.detach().clone() for q in p.lora_params]
    start = adv_ce(p, batch)
    for _ in range(15):
        adversary_turn_(p, batch, StepPlan(1, False, 1.0, 0.0), StepMetrics(eps=p.settings.eps_max))
    assert adv_ce(p, batch) > start + 0.05
    # the understander was not touched by the adversary's updates, and got no gradient
    assert all(torch.equal(a, b) for a, b in zip(lora_before, p.lora_params))
    assert all(q.grad is None for q in p.lora_params)


@pytest.mark.slow
def test_understander_steps_lower_clean_ce_and_never_touch_the_perturber(fake_plugin: None,  # noqa: ANN001
                                                                           tmp_path) -> None:
    p, batch = make_players(fake_plugin, tmp_path)
    pert_before = [q.detach().clone() for q in p.perturber.parameters()]

    def clean_ce() -> float:
        with torch.no_grad():
            emb = p.backend.understander.embed_images(batch.images)
            return float(p.backend.understander.answer_loss(emb, batch.questions, batch.answers).mean())

    start = clean_ce()
    for _ in range(15):
        understander_turn_(p, batch, StepPlan(0, False, 1.0, 0.0), StepMetrics())
    assert clean_ce() < start - 0.1
    assert all(torch.equal(a, b) for a, b in zip(pert_before, p.perturber.parameters()))
    assert all(q.grad is None for q in p.perturber.parameters())


def test_hardness_is_per_sample_and_the_buffer_gets_own_labels(fake_plugin: None, tmp_path) -> None:  # noqa: ANN001
    p, batch = make_players(fake_plugin, tmp_path, "game.adversary_fraction=1.0", "buffer.tau=-1e9")
    m = game_step(p, batch, StepPlan(1, True, 1.0, 1.0))
    assert len(m.hardness) == 8 and len(set(round(h, 6) for h in m.hardness)) > 1
    assert m.mined == 8 and len(p.buffer) == 8
    pairs = set(zip(batch.questions, batch.answers))
    assert set(zip(p.buffer.questions, p.buffer.answers)) <= pairs
    stored = sorted(zip(p.buffer.answers, p.buffer.hardness.tolist()))
    expected = sorted(zip(batch.answers, m.hardness))
    assert [a for a, _ in stored] == [a for a, _ in expected]
    assert [h for _, h in stored] == pytest.approx([h for _, h in expected], abs=1e-5)


def test_non_finite_losses_skip_the_update(fake_plugin: None, tmp_path) -> None:  # noqa: ANN001
    p, batch = make_players(fake_plugin, tmp_path)
    before = [q.detach().clone() for q in p.lora_params]
    bad = VQABatch(batch.images * float("nan"), batch.questions, batch.answers, batch.ids)
    m = game_step(p, bad, StepPlan(1, True, 1.0, 1.0))
    assert m.skipped >= 1
    assert all(torch.equal(a, b) for a, b in zip(before, p.lora_params))
    assert len(p.buffer) == 0  # NaN hardness never enters the buffer


@pytest.mark.parametrize("coupling", ["embedding", "noise", "none"])
def test_every_coupling_runs_a_step(fake_plugin: None, tmp_path, coupling: str) -> None:  # noqa: ANN001
    p, batch = make_players(fake_plugin, tmp_path, f"game.coupling={coupling}", "buffer.tau=-1e9")
    if coupling in ("noise", "none"):
        p.perturber = None
    m = game_step(p, batch, StepPlan(1, True, 1.0, 1.0))
    assert math.isfinite(m.loss_u)
    assert (len(p.buffer) > 0) == (coupling != "none")
    if coupling == "embedding" and len(p.buffer):
        assert p.buffer.images.dim() == 3  # embeddings are what gets stored


def test_decoder_noise_decodes_a_random_bounded_delta_and_learns_nothing(
    fake_plugin: None, tmp_path  # noqa: ANN001
) -> None:
    from unigame_core.game import couplings

    p, batch = make_players(fake_plugin, tmp_path, "game.coupling=decoder-noise", "buffer.tau=-1e9",
                            "game.hardness_reference=round_trip")
    assert p.perturber is None  # a control: no adversary is built or trained
    coupling = couplings.coupling_for("decoder-noise")
    assert coupling.plays and not coupling.learned and coupling.stores_pixels
    clean = coupling.clean_representation(p.backend, batch.images)
    view = coupling.adversarial_view(p.backend, None, clean, 0.1, torch.Generator().manual_seed(0))
    assert torch.allclose(view.adv_tokens, clean.float() + view.delta) and view.sample.shape == batch.images.shape
    moved = (view.adv_tokens - clean.float()).norm(dim=-1)
    assert (moved <= 0.1 * clean.float().norm(dim=-1) + 1e-6).all() and moved.max() > 0
    m = game_step(p, batch, StepPlan(1, True, 1.0, 1.0))
    assert math.isfinite(m.loss_u) and len(p.buffer) > 0 and p.buffer.images.dim() == 4  # pixels are stored


@pytest.mark.parametrize("reference", ["clean", "round_trip"])
def test_the_gate_compares_with_the_clean_image_or_the_delta_zero_decode(fake_plugin: None, tmp_path,  # noqa: ANN001
                                                                       reference: str) -> None:
    from unigame_core.interfaces import GateResult

    p, batch = make_players(fake_plugin, tmp_path, f"game.gate_reference={reference}", "game.eps_max=0.3")
    assert p.settings.gate_reference == reference
    seen = []

    def keep_all(pair):  # noqa: ANN001, ANN202
        seen.append(pair)
        return GateResult(torch.ones(len(pair.texts), dtype=torch.bool), torch.ones(len(pair.texts)))

    p.gate.check = keep_all
    adversary_turn_(p, batch, StepPlan(1, True, 1.0, 0.0), StepMetrics(eps=p.settings.eps_max))
    with torch.no_grad():
        round_trip = p.backend.decoder.decode(p.backend.encoder.encode(batch.images))
    [pair] = seen
    expected = round_trip if reference == "round_trip" else batch.images
    assert torch.allclose(pair.clean_pixels, expected)  # the adversarial decode is judged against this
    assert not torch.allclose(round_trip, batch.images)  # the two references differ on this backend
    assert not torch.allclose(pair.adv_pixels, pair.clean_pixels)


def test_gate_reference_is_checked_with_the_other_settings(tmp_path) -> None:  # noqa: ANN001
    from unigame_core.config import build_config
    from unigame_core.errors import ConfigError

    with pytest.raises(ConfigError, match="game.gate_reference"):
        build_config(None, None, ["game.gate_reference=decoded"])
