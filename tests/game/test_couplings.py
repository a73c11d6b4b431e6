"""Each coupling strategy on the fake backend: what it perturbs, what the understander reads, what is stored."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from unigame_core.config import COUPLINGS as CONFIG_COUPLINGS
from unigame_core.game.couplings import (
    COUPLINGS,
    DecoderCoupling,
    DecoderNoiseCoupling,
    DecoderPGDCoupling,
    EmbeddingCoupling,
    NoAdversary,
    NoiseCoupling,
    coupling_for,
)
from unigame_core.game.perturber import Perturber
from unigame_core.testing import FakeBackend, FakeSettings

B, EPS = 3, 0.3  # FakeSettings: 16 px images, 4 px patches -> 16 tokens of width 8; LLM width 32


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(FakeSettings(), "cpu")


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(B, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def perturber(dim: int) -> Perturber:
    torch.manual_seed(0)
    return Perturber(dim, hidden=8, depth=2, init_scale=1.0)  # a visible delta from the first call


def within_bound(clean: torch.Tensor, adv: torch.Tensor) -> bool:
    return bool(((adv - clean).norm(dim=-1) <= EPS * clean.norm(dim=-1) + 1e-5).all())


def test_one_strategy_per_config_choice_compared_by_kind() -> None:
    assert tuple(COUPLINGS) == CONFIG_COUPLINGS  # the config's choices are exactly the strategies
    assert [type(coupling_for(n)) for n in CONFIG_COUPLINGS] == [
        DecoderCoupling, DecoderPGDCoupling, DecoderNoiseCoupling, EmbeddingCoupling, NoiseCoupling, NoAdversary]
    assert coupling_for("decoder") == DecoderCoupling() and coupling_for("decoder") != EmbeddingCoupling()
    assert [(c.plays, c.learned, c.refines, c.stores_pixels) for c in map(coupling_for, CONFIG_COUPLINGS)] == [
        (True, True, True, True), (True, False, True, True), (True, False, False, True), (True, True, True, False),
        (True, False, False, False), (False, False, False, False)]


def test_decoder_perturbs_shared_tokens_and_hands_over_decoded_pixels(
    backend: FakeBackend, images: torch.Tensor
) -> None:
    c = DecoderCoupling()
    assert c.perturbed_dim(backend) == backend.encoder.token_shape[1] == 8
    clean = c.clean_representation(backend, images)
    assert clean.shape == (B, 16, 8) and not clean.requires_grad
    assert torch.equal(clean, backend.encoder.encode(images))
    view = c.adversarial_view(backend, perturber(8), clean, EPS)
    assert view.sample.shape == (B, 3, 16, 16)  # real pixels: what the buffer stores
    assert torch.allclose(view.sample, backend.decoder.decode(view.adv_tokens))
    assert torch.allclose(view.embeds, backend.understander.embed_images(view.sample))
    assert view.embeds.shape == (B, 16, 32)
    assert view.clean_tokens is clean and view.delta is not None
    assert torch.allclose(view.adv_tokens, clean + view.delta) and view.delta.abs().max() > 1e-3
    assert within_bound(clean, view.adv_tokens)
    assert view.sample.requires_grad  # the perturber's gradient flows through the decoder
    assert torch.allclose(c.round_trip_embeds(backend, clean),
                          backend.understander.embed_images(backend.decoder.decode(clean)))
    drawn = torch.rand(2, 3, 16, 16).half()  # the buffer stores float16 pixels
    both = c.understander_embeds(backend, images, drawn)
    assert both.shape == (B + 2, 16, 32)
    assert torch.allclose(both, backend.understander.embed_images(torch.cat([images, drawn.float()])))
    assert torch.allclose(c.understander_embeds(backend, images, None), backend.understander.embed_images(images))
    assert c.understander_embeds(backend, None, drawn.float()).shape == (2, 16, 32)  # an empty clean batch
    with pytest.raises(ValueError, match="needs a perturber"):
        c.adversarial_view(backend, None, clean, EPS)


def test_embedding_perturbs_the_understanding_embeddings(backend: FakeBackend, images: torch.Tensor) -> None:
    c = EmbeddingCoupling()
    assert c.perturbed_dim(backend) == backend.understander.embedding_dim == 32
    clean = c.clean_representation(backend, images)
    assert clean.dtype == torch.float32 and clean.shape == (B, 16, 32)
    assert torch.equal(clean, backend.understander.embed_images(images).float())
    view = c.adversarial_view(backend, perturber(32), clean, EPS)
    assert view.sample is view.embeds is view.adv_tokens  # no decoder: the LLM reads what is stored
    assert view.sample.shape == (B, 16, 32) and view.delta is not None
    assert torch.allclose(view.sample, clean + view.delta) and within_bound(clean, view.sample)
    assert c.round_trip_embeds(backend, clean) is clean
    drawn = torch.randn(2, 16, 32).half()
    both = c.understander_embeds(backend, images, drawn)
    assert both.shape == (B + 2, 16, 32) and torch.allclose(both[B:], drawn.float())
    assert torch.allclose(both[:B], backend.understander.embed_images(images))
    assert c.understander_embeds(backend, None, drawn) is drawn  # an empty clean batch: the draw alone


def test_noise_is_random_bounded_and_learns_nothing(backend: FakeBackend, images: torch.Tensor) -> None:
    c = NoiseCoupling()
    assert c.perturbed_dim(backend) is None  # no perturber is built
    clean = c.clean_representation(backend, images)
    views = [c.adversarial_view(backend, None, clean, EPS, torch.Generator().manual_seed(s)) for s in (5, 5, 6)]
    assert views[0].sample is views[0].embeds and torch.allclose(views[0].sample, clean + views[0].delta)
    assert views[0].sample.shape == clean.shape and within_bound(clean, views[0].sample)
    assert not torch.equal(views[0].sample, clean)
    assert torch.equal(views[0].sample, views[1].sample) and not torch.equal(views[0].sample, views[2].sample)


def test_decoder_pgd_starts_at_zero_and_decodes_the_round_trip(backend: FakeBackend, images: torch.Tensor) -> None:
    c = DecoderPGDCoupling()
    assert c.perturbed_dim(backend) is None  # no perturber is built: only the refinement attacks
    clean = c.clean_representation(backend, images)
    delta = c.start(None, clean, EPS)
    assert delta.dtype == torch.float32 and torch.equal(delta, torch.zeros_like(clean))
    view = c.view(backend, clean, delta)
    assert torch.allclose(view.sample, backend.decoder.decode(clean))


def test_decoder_noise_start_is_a_random_bounded_delta(backend: FakeBackend, images: torch.Tensor) -> None:
    c = DecoderNoiseCoupling()
    clean = c.clean_representation(backend, images)
    a = c.start(None, clean, EPS, torch.Generator().manual_seed(3))
    b = c.start(None, clean, EPS, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.abs().max() > 0 and within_bound(clean, clean + a)


def test_no_adversary_only_reads_the_clean_batch(backend: FakeBackend, images: torch.Tensor) -> None:
    c = NoAdversary()
    assert c.perturbed_dim(backend) is None
    assert torch.allclose(c.understander_embeds(backend, images, None), backend.understander.embed_images(images))
    with pytest.raises(ValueError, match="no adversary"):
        c.clean_representation(backend, images)
    with pytest.raises(ValueError, match="no buffer"):
        c.understander_embeds(backend, images, images)


def test_strategies_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DecoderCoupling().stores_pixels = False  # type: ignore[misc]
