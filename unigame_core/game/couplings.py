"""How the adversary reaches the understander: the ablation axis of the paper, one strategy object each.

* ``decoder``   ``DecoderCoupling``: perturb the shared tokens z, decode to real pixels, re-encode for
               understanding (the method; samples live in pixel space and are stored as images)
* ``decoder-pgd`` ``DecoderPGDCoupling``: the same path from delta = 0 with no perturber: only the per-sample
               refinement attacks (plain decoder-constrained adversarial training; a control row)
* ``embedding`` ``EmbeddingCoupling``: learned perturbation of the understanding embeddings (no decoder)
* ``noise``     ``NoiseCoupling``: random bounded noise on the understanding embeddings (nothing learned)
* ``decoder-noise`` ``DecoderNoiseCoupling``: random bounded noise on the shared tokens, decoded (the decoder
               path without a learned adversary; a control row of ``unigame study ablation``)
* ``none``      ``NoAdversary``: no adversary (plain SFT)

``coupling_for(name)`` picks one once, from ``game.coupling``; the game step only calls its methods.
A coupling that plays makes the adversary's starting delta (``start``: the perturber's, zero or random) and
routes ``z + delta`` to the understander (``view``: an ``AdversarialView`` with the perturbed understander
input, the delta, and what the gate compares). ``refines``: the adversary's per-sample refinement
(``refine.py``) sharpens that delta before the view is gated and mined.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from ..interfaces import Backend
from .perturber import Perturber, random_delta


@dataclass
class AdversarialView:
    sample: Tensor  # what the buffer stores: pixels (decoder) or embeddings (embedding, noise)
    embeds: Tensor  # what the LLM reads at the image positions
    delta: Tensor  # the bounded perturbation, fp32
    clean_tokens: Tensor  # the unperturbed representation (gate input)
    adv_tokens: Tensor  # the perturbed representation (gate input)


@dataclass(frozen=True)
class Coupling(ABC):
    """One way for the adversary to reach the understander (a strategy; stateless, compared by kind)."""

    name = ""
    plays = True  # False: no adversary turn, no buffer
    learned = True  # a trained perturber makes the starting delta (``perturbed_dim`` gives its width)
    refines = True  # the per-sample refinement steps (game.refine_steps) apply (not to random-noise controls)
    stores_pixels = False  # the buffer holds images (else understanding embeddings)

    def perturbed_dim(self, backend: Backend) -> int | None:
        """Width of the vectors the perturber acts on; None when there is no perturber to build."""
        return None

    @abstractmethod
    def clean_representation(self, backend: Backend, images: Tensor) -> Tensor:
        """The frozen starting point of the adversary (no gradient)."""

    def start(self, perturber: Perturber | None, clean: Tensor, eps: float,
              generator: torch.Generator | None = None) -> Tensor:
        """The adversary's starting delta (fp32, within ``||delta_i|| <= eps ||z_i||``): the perturber's by
        default (with its graph, so the perturber can learn from it)."""
        if perturber is None:
            raise ValueError(f"coupling '{self.name}' needs a perturber")
        return perturber(clean, eps)[1]

    @abstractmethod
    def view(self, backend: Backend, clean: Tensor, delta: Tensor) -> AdversarialView:
        """Route ``clean + delta`` (``clean`` from ``clean_representation``) to the understander."""

    def adversarial_view(
        self, backend: Backend, perturber: Perturber | None, clean: Tensor, eps: float,
        generator: torch.Generator | None = None,
    ) -> AdversarialView:
        """The view at the starting delta (no refinement)."""
        return self.view(backend, clean, self.start(perturber, clean, eps, generator))

    @abstractmethod
    def round_trip_embeds(self, backend: Backend, clean: Tensor) -> Tensor:
        """The understander's input on the delta = 0 path (the reference of ``hardness_reference=round_trip``)."""

    def round_trip(self, backend: Backend, clean: Tensor) -> tuple[Tensor, Tensor | None]:
        """``round_trip_embeds`` and the delta = 0 decode as pixels (what ``game.gate_reference=round_trip``
        compares with; None for a coupling that does not decode), decoded once for both."""
        return self.round_trip_embeds(backend, clean), None

    @abstractmethod
    def understander_embeds(self, backend: Backend, images: Tensor | None, drawn: Tensor | None) -> Tensor:
        """Embeddings for ONE understander forward over the clean batch (None: empty on this rank) plus the
        buffer draw (None: nothing drawn)."""


class _EmbeddingSpace(Coupling):
    """Adversarial samples are understanding embeddings: the buffer stores them, the LLM reads them directly."""

    @torch.no_grad()
    def clean_representation(self, backend: Backend, images: Tensor) -> Tensor:
        return backend.understander.embed_images(images).float()

    def round_trip_embeds(self, backend: Backend, clean: Tensor) -> Tensor:
        return clean

    def understander_embeds(self, backend: Backend, images: Tensor | None, drawn: Tensor | None) -> Tensor:
        if images is None:
            assert drawn is not None
            return drawn
        clean = backend.understander.embed_images(images)
        return clean if drawn is None else torch.cat([clean, drawn.to(clean.dtype)])


@dataclass(frozen=True)
class DecoderCoupling(Coupling):
    """z = Enc(x); x_adv = G(z + C(z)); the understander re-encodes the decoded pixels (the method)."""

    name = "decoder"
    stores_pixels = True

    def perturbed_dim(self, backend: Backend) -> int | None:
        return backend.encoder.token_shape[1]

    @torch.no_grad()
    def clean_representation(self, backend: Backend, images: Tensor) -> Tensor:
        return backend.encoder.encode(images)

    def view(self, backend: Backend, clean: Tensor, delta: Tensor) -> AdversarialView:
        adv = clean.float() + delta
        pixels = backend.decoder.decode(adv)
        return AdversarialView(pixels, backend.understander.embed_images(pixels), delta, clean, adv)

    def round_trip_embeds(self, backend: Backend, clean: Tensor) -> Tensor:
        return self.round_trip(backend, clean)[0]

    def round_trip(self, backend: Backend, clean: Tensor) -> tuple[Tensor, Tensor]:
        pixels = backend.decoder.decode(clean)
        return backend.understander.embed_images(pixels), pixels

    def understander_embeds(self, backend: Backend, images: Tensor | None, drawn: Tensor | None) -> Tensor:
        if images is None:
            assert drawn is not None
            return backend.understander.embed_images(drawn)
        if drawn is None:
            return backend.understander.embed_images(images)
        return backend.understander.embed_images(torch.cat([images, drawn.to(images.dtype)]))


@dataclass(frozen=True)
class DecoderNoiseCoupling(DecoderCoupling):
    """x_adv = G(z + random delta), ||delta_i|| <= eps ||z_i||: the decoder path with nothing learned (a control)."""

    name = "decoder-noise"
    learned = False
    refines = False

    def perturbed_dim(self, backend: Backend) -> int | None:
        return None

    def start(self, perturber: Perturber | None, clean: Tensor, eps: float,
              generator: torch.Generator | None = None) -> Tensor:
        return random_delta(clean, eps, generator)


@dataclass(frozen=True)
class DecoderPGDCoupling(DecoderCoupling):
    """x_adv = G(z + delta) with delta found by the refinement steps alone, from delta = 0: plain projected
    gradient ascent through the decoder, nothing learned (the control that tells what the perturber, gate and
    buffer add over PGD)."""

    name = "decoder-pgd"
    learned = False

    def perturbed_dim(self, backend: Backend) -> int | None:
        return None

    def start(self, perturber: Perturber | None, clean: Tensor, eps: float,
              generator: torch.Generator | None = None) -> Tensor:
        return torch.zeros_like(clean, dtype=torch.float32)


@dataclass(frozen=True)
class EmbeddingCoupling(_EmbeddingSpace):
    """A learned perturbation of the understanding embeddings (no decoder)."""

    name = "embedding"

    def perturbed_dim(self, backend: Backend) -> int | None:
        return backend.understander.embedding_dim

    def view(self, backend: Backend, clean: Tensor, delta: Tensor) -> AdversarialView:
        adv = clean.float() + delta
        return AdversarialView(adv, adv, delta, clean, adv)


@dataclass(frozen=True)
class NoiseCoupling(_EmbeddingSpace):
    """Random bounded noise on the understanding embeddings: an adversary that learns nothing."""

    name = "noise"
    learned = False
    refines = False

    def start(self, perturber: Perturber | None, clean: Tensor, eps: float,
              generator: torch.Generator | None = None) -> Tensor:
        return random_delta(clean, eps, generator)

    def view(self, backend: Backend, clean: Tensor, delta: Tensor) -> AdversarialView:
        adv = clean.float() + delta
        return AdversarialView(adv, adv, delta, clean, adv)


@dataclass(frozen=True)
class NoAdversary(Coupling):
    """Plain SFT: the adversary never plays and nothing is buffered."""

    name = "none"
    plays = False
    learned = False
    refines = False

    def clean_representation(self, backend: Backend, images: Tensor) -> Tensor:
        raise ValueError("coupling 'none' has no adversary")

    def view(self, backend: Backend, clean: Tensor, delta: Tensor) -> AdversarialView:
        raise ValueError("coupling 'none' has no adversary")

    def round_trip_embeds(self, backend: Backend, clean: Tensor) -> Tensor:
        raise ValueError("coupling 'none' has no adversary")

    def understander_embeds(self, backend: Backend, images: Tensor | None, drawn: Tensor | None) -> Tensor:
        if drawn is not None:
            raise ValueError("coupling 'none' keeps no buffer to draw from")
        assert images is not None
        return backend.understander.embed_images(images)


COUPLINGS: dict[str, type[Coupling]] = {
    c.name: c for c in (DecoderCoupling, DecoderPGDCoupling, DecoderNoiseCoupling, EmbeddingCoupling, NoiseCoupling,
                         NoAdversary)
}


def coupling_for(name: str) -> Coupling:
    """The strategy for ``game.coupling`` (validated with the config: its ``Literal`` type, ``config.COUPLINGS``)."""
    return COUPLINGS[name]()

