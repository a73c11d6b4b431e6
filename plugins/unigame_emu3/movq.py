"""Single-image (2-D) paths through Emu3's MoVQ video tokenizer, equal to transformers' temporal paths.

transformers' ``Emu3VQVAE`` treats an image as a clip: ``encode`` repeats it ``T = 4`` times and runs the
2-D encoder on all four copies; ``decode`` upsamples the one latent frame to four and runs the 2-D
decoder on all four, then keeps frame 0. The expensive 2-D stacks act on each frame independently, so:

* encode: the four copies are identical, so the 2-D encoder runs once and its output is repeated
  before the (cheap, latent-resolution) temporal convolutions;
* decode: the temporal stack runs at latent resolution as usual, and only frame 0 enters the 2-D decoder.

Both use transformers' own modules in the same order, so they equal the temporal paths (tested) at a
quarter of the 2-D cost. The temporal blocks hold BatchNorm3d layers: :func:`pin_eval` keeps the whole
tokenizer in eval mode whatever mode the model is put in (train-mode BatchNorm would normalise with the
statistics of the current batch, making every token depend on its neighbours in the batch).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .preprocess import PixelNormalizer


def pin_eval(module: nn.Module) -> None:
    """Keep ``module`` and its children in eval mode: ``module.train(True)`` becomes ``train(False)``."""

    def train(self: nn.Module, mode: bool = True) -> nn.Module:
        return nn.Module.train(self, False)

    module.train = types.MethodType(train, module)  # type: ignore[method-assign]
    module.eval()


class MoVQ:
    """Emu3's MoVQ on single images: normalised pixels <-> continuous latents ``(B, C, h, w)``.

    ``checkpointing=True`` recomputes the full-resolution 2-D stacks in the backward pass instead of
    keeping their activations (several GiB per 512 px image for Emu3's 256-channel MoVQ).
    """

    def __init__(self, vqmodel: Any, normalize: PixelNormalizer, checkpointing: bool = False) -> None:
        self.vq = vqmodel
        self.normalize = normalize
        self.checkpointing = checkpointing
        self.temporal = int(vqmodel.config.temporal_downsample_factor)
        self.factor = int(vqmodel.vision_spatial_factor)

    def _run(self, block: Callable[..., Tensor], *args: Tensor) -> Tensor:
        if self.checkpointing and torch.is_grad_enabled() and any(a.requires_grad for a in args):
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    @property
    def dtype(self) -> torch.dtype:
        return self.vq.quant_conv.conv.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.vq.quant_conv.conv.weight.device

    def latents(self, pixels: Tensor) -> Tensor:
        """``[0, 1]`` pixels ``(B, 3, H, W)`` -> pre-quantisation latents ``(B, C, H/8, W/8)`` (differentiable)."""
        enc = self.vq.encoder
        x = self.normalize(pixels).to(device=self.device, dtype=self.dtype)
        h = self._run(lambda t: enc.middle_block(enc.down_block(enc.conv_in(t))), x)  # the 2-D encoder, once
        h = enc.norm_out(h)
        h = h * torch.sigmoid(h)
        h = enc.conv_out(h)
        h = h.unsqueeze(2).expand(-1, -1, self.temporal, -1, -1)  # (B, C, T, h, w): the T identical copies
        for conv in enc.time_conv:
            h = conv(h)
            h = h * torch.sigmoid(h)
        for block in enc.time_res_stack:
            h = block(h)
        h = self.vq.quant_conv(h)  # (B, C, 1, h, w)
        return h[:, :, 0]

    def decode(self, latents: Tensor) -> Tensor:
        """Continuous latents ``(B, C, h, w)`` (codebook space) -> the decoder's output ``(B, 3, H, W)``.

        Equals frame 0 of ``Emu3VQVAE.decode`` when ``latents`` are codebook vectors.
        """
        dec = self.vq.decoder
        quant = latents.to(device=self.device, dtype=self.dtype).unsqueeze(2)  # (B, C, T=1, h, w)
        post = self.vq.post_quant_conv(quant)
        both = torch.cat([post, quant], dim=0)  # the temporal stack runs on both, as in the decoder
        for block in dec.time_res_stack:
            both = block(both)
        for conv in dec.time_conv:
            both = conv(both)
            both = both * torch.sigmoid(both)
        hidden, quant_states = both[:, :, 0].chunk(2, dim=0)  # frame 0 only enters the 2-D decoder
        h = self._run(lambda t, q: dec.up_block(dec.middle_block(dec.conv_in(t), q), q), hidden, quant_states)
        h = dec.norm_out(h, quant_states)
        h = h * torch.sigmoid(h)
        return dec.conv_out(h)

    def grid(self, size: int) -> int:
        """Tokens per side for ``size`` pixels."""
        return size // self.factor
