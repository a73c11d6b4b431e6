"""How the adversary reaches the understander: the ablation axis of the paper.

* ``decoder``   perturb the shared tokens z, decode to real pixels, re-encode for understanding
               (the method; samples live in pixel space and are stored as images)
* ``embedding`` learned perturbation of the understanding embeddings (no decoder)
* ``noise``     random bounded noise on the understanding embeddings
* ``decoder-noise`` random bounded noise on the shared tokens, decoded (the decoder path without a
               learned adversary; a row of ``unigame study ablation``)
* ``none``      no adversary (plain SFT)

Every coupling returns an ``AdversarialView``: the perturbed understander input, the bounded
delta, and what the gate compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..interfaces import Backend
from .perturber import Perturber, random_perturbation

PIXEL_SPACE = "pixels"
EMBEDDING_SPACE = "embeddings"
DECODED = ("decoder", "decoder-noise")  # couplings whose samples are decoded images
RANDOM = ("noise", "decoder-noise")  # couplings with a random, not learned, perturbation


@dataclass
class AdversarialView:
    sample: Tensor  # what the buffer stores: pixels (decoder) or embeddings (embedding, noise)
    embeds: Tensor  # what the LLM reads at the image positions
    delta: Tensor | None  # the bounded perturbation (None for noise)
    clean_tokens: Tensor  # the unperturbed representation (gate input)
    adv_tokens: Tensor  # the perturbed representation (gate input)


def sample_space(coupling: str) -> str:
    return PIXEL_SPACE if coupling in DECODED else EMBEDDING_SPACE


def perturbed_dim(coupling: str, backend: Backend) -> int:
    """Width of the vectors the perturber acts on."""
    if coupling == "decoder":
        return backend.encoder.token_shape[1]
    return backend.understander.embedding_dim


@torch.no_grad()
def clean_representation(coupling: str, backend: Backend, images: Tensor) -> Tensor:
    """The frozen starting point of the adversary: shared tokens z, or clean image embeddings."""
    if coupling in DECODED:
        return backend.encoder.encode(images)
    return backend.understander.embed_images(images).float()


def adversarial_view(
    coupling: str,
    backend: Backend,
    perturber: Perturber | None,
    clean: Tensor,
    eps: float,
    generator: torch.Generator | None = None,
) -> AdversarialView:
    """Perturb ``clean`` (from ``clean_representation``) and route it to the understander."""
    if coupling == "noise":
        adv = random_perturbation(clean, eps, generator)
        return AdversarialView(adv, adv, None, clean, adv)
    if coupling == "decoder-noise":  # the decoder path with a random (not learned) bounded delta: a control
        adv = random_perturbation(clean, eps, generator)
        pixels = backend.decoder.decode(adv)
        return AdversarialView(pixels, backend.understander.embed_images(pixels), None, clean, adv)
    if perturber is None:
        raise ValueError(f"coupling '{coupling}' needs a perturber")
    adv, delta = perturber(clean, eps)
    if coupling == "decoder":
        pixels = backend.decoder.decode(adv)
        embeds = backend.understander.embed_images(pixels)
        return AdversarialView(pixels, embeds, delta, clean, adv)
    return AdversarialView(adv, adv, delta, clean, adv)


def understander_embeds(space: str, backend: Backend, images: Tensor, drawn: Tensor | None) -> Tensor:
    """Embeddings for ONE understander forward over the clean batch plus the buffer draw."""
    if drawn is None:
        return backend.understander.embed_images(images)
    if space == PIXEL_SPACE:
        return backend.understander.embed_images(torch.cat([images, drawn.to(images.dtype)]))
    clean = backend.understander.embed_images(images)
    return torch.cat([clean, drawn.to(clean.dtype)])
