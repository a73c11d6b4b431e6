"""Shared-token encoder and decoder: Janus' VQ-16 with normalised codes, continuous and straight-through."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unigame_janus.backend import JanusBackend
from unigame_janus.roles import JanusVQDecoder


def test_encode_shape_and_unit_codes(backend: JanusBackend, pixels: torch.Tensor) -> None:
    z = backend.encoder.encode(pixels)
    n, d = backend.encoder.token_shape
    assert z.shape == (3, n, d) == (3, 16, 8) and z.dtype == torch.float32
    assert torch.allclose(z.norm(dim=-1), torch.ones(3, n), atol=1e-6)
    codebook = F.normalize(backend.model.model.vqmodel.quantize.embedding.weight, dim=-1)
    assert torch.equal(z, codebook[backend.encoder.encode_tokens(pixels)])


def test_tokens_are_nearest_normalised_codes(backend: JanusBackend, pixels: torch.Tensor) -> None:
    """Janus/LlamaGen quantise in the L2-normalised space (transformers' quantizer forward does not)."""
    vq = backend.model.model.vqmodel
    with torch.no_grad():
        latents = vq.quant_conv(vq.encoder(backend.normalize(pixels))).permute(0, 2, 3, 1).reshape(3, -1, 8)
    distances = torch.cdist(F.normalize(latents, dim=-1), F.normalize(vq.quantize.embedding.weight, dim=-1))
    assert torch.equal(backend.encoder.encode_tokens(pixels), distances.argmin(-1))


def test_decode_of_encode_is_the_models_own_reconstruction(backend: JanusBackend, pixels: torch.Tensor) -> None:
    tokens = backend.encoder.encode_tokens(pixels)
    with torch.no_grad():
        own = backend.model.decode_image_tokens(tokens).permute(0, 3, 1, 2)
        ours = backend.decoder.decode(backend.encoder.encode(pixels))
    assert ours.shape == (3, 3, backend.image_size, backend.image_size) and ours.dtype == torch.float32
    assert torch.allclose(ours, ((own + 1) / 2).clamp(0, 1), atol=1e-6)
    assert 0 <= ours.min() and ours.max() <= 1


def test_decoder_is_differentiable_in_z(backend: JanusBackend, pixels: torch.Tensor) -> None:
    z = backend.encoder.encode(pixels)
    delta = torch.zeros_like(z, requires_grad=True)
    backend.decoder.decode(z + delta).square().mean().backward()
    assert delta.grad is not None and delta.grad.norm() > 0 and torch.isfinite(delta.grad).all()


def test_straight_through_forward_is_realisable_backward_is_identity(backend: JanusBackend,
                                                                     pixels: torch.Tensor) -> None:
    plain = backend.decoder
    st = JanusVQDecoder(plain.vqmodel, plain.codebook, plain.precision, plain.grid, straight_through=True)
    z = backend.encoder.encode(pixels) + 0.3 * torch.randn(3, 16, 8, generator=torch.Generator().manual_seed(1))
    snapped = plain.codebook.lookup(plain.codebook.nearest(z))
    assert not torch.allclose(snapped, z)

    z_st = z.clone().requires_grad_(True)
    out_st = st.decode(z_st)
    z_q = snapped.clone().requires_grad_(True)
    out_q = plain.decode(z_q)
    assert torch.equal(out_st, out_q)  # the image is exactly the decode of a token sequence
    out_st.sum().backward()
    out_q.sum().backward()
    assert torch.allclose(z_st.grad, z_q.grad)  # gradient passes straight through the snap
    with torch.no_grad():
        tokens = plain.codebook.nearest(z)
        own = ((backend.model.decode_image_tokens(tokens).permute(0, 3, 1, 2) + 1) / 2).clamp(0, 1)
    assert torch.allclose(out_st, own, atol=1e-6)
