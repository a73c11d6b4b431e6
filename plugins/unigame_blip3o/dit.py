"""BLIP3-o's generation head on diffusers' native ``LuminaNextDiT2DModel``.

The official ``NextDiTCrossAttn`` wraps a copy of Lumina-Next's DiT whose only structural change is a
``PixArtAlphaTextProjection`` (LLM width -> DiT width) applied to the conditioning first, with the blocks
built at ``cross_attention_dim`` = the DiT width. Here that is the native DiT plus the native projection.
The DiT denoises an ``h x w`` grid of EVA-CLIP features (channels = feature width, patch 1) by flow
matching, conditioned on the LLM's hidden states at the 64 learned query positions.

Checkpoint keys: ``model.dit.model.caption_projection.*`` (the projection), ``model.dit.model.*`` (the
DiT) and ``model.latent_queries`` ``(1, Q, D_llm)``. Layer count and conditioning width are read from
the tensors' shapes; the FFN width is checked against what the native block builds, because BLIP3-o's
copy relied on an older diffusers' FFN sizing (a mismatch would load garbage silently).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from unigame_core.errors import ConfigError

DIT_PREFIX = "model.dit.model."
QUERIES_KEY = "model.latent_queries"
PROJECTION = "caption_projection."
#: Lumina-Next's flow-matching scheduler config (the official code fetches it from
#: Alpha-VLLM/Lumina-Next-SFT-diffusers at run time; ``shift`` is a guess, see docs/models/blip3o.md)
FLOW_SCHEDULER = {"num_train_timesteps": 1000, "shift": 1.0}
ROPE_EXTENT = 384  # BLIP3-o's rotary table: get_2d_rotary_pos_embed_lumina(head_dim, 384, 384)
#: parameters of diffusers' DiT that BLIP3-o's copy does not have (the official checkpoints lack them): they keep
#: their initial value (``pad_token`` only fills padded caption positions; BLIP3-o's conditioning has none)
NOT_IN_CHECKPOINT = frozenset({"pad_token"})


@dataclass
class DitConfig:
    """The DiT's shape; BLIP3-o's values by default (1792 wide, 28 heads, 8 x 8 grid of 1792-channel features)."""

    channels: int = 1792
    hidden: int = 1792
    heads: int = 28
    kv_heads: int = 28
    layers: int = 24
    grid: int = 8
    condition: int = 3584  # the LLM's hidden size (3584 for 8B, 2048 for 4B)
    multiple_of: int = 256
    norm_eps: float = 1e-5

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def config_from_weights(keys: dict[str, tuple[int, ...]], base: DitConfig) -> DitConfig:
    """``base`` with the layer count, conditioning width and feature channels read from tensor shapes."""
    layers = {int(k[len(DIT_PREFIX):].split(".")[1]) for k in keys if k.startswith(DIT_PREFIX + "layers.")}
    proj = keys.get(DIT_PREFIX + PROJECTION + "linear_1.weight")
    if not layers or proj is None:
        raise ConfigError("The checkpoint has no generation head (model.dit.model.* weights).",
                          "Point --model at a BLIP3-o checkpoint, or set backend.text_to_image=false.")
    values = base.to_dict()
    values.update(layers=max(layers) + 1, condition=int(proj[1]), hidden=int(proj[0]))
    embedder = keys.get(DIT_PREFIX + "patch_embedder.proj.weight")
    if embedder is not None:
        values["channels"] = int(embedder[1])
    return DitConfig(**values)


class GenerationHead(nn.Module):
    """LLM query states ``(B, Q, D_llm)`` -> EVA-CLIP features ``(B, grid**2, channels)`` by flow matching."""

    def __init__(self, config: DitConfig) -> None:
        super().__init__()
        from diffusers import LuminaNextDiT2DModel
        from diffusers.models.embeddings import PixArtAlphaTextProjection

        self.config = config
        self.caption_projection = PixArtAlphaTextProjection(config.condition, config.hidden)
        self.dit = LuminaNextDiT2DModel(
            sample_size=config.grid, patch_size=1, in_channels=config.channels, hidden_size=config.hidden,
            num_layers=config.layers, num_attention_heads=config.heads, num_kv_heads=config.kv_heads,
            multiple_of=config.multiple_of, norm_eps=config.norm_eps, learn_sigma=False, qk_norm=True,
            cross_attention_dim=config.hidden)
        self._rope: Tensor | None = None

    def load_checkpoint_weights(self, weights: dict[str, Tensor]) -> None:
        """Load ``model.dit.model.*`` tensors; raise ``ConfigError`` on any shape or name mismatch."""
        own = {k: v for k, v in weights.items() if k.startswith(DIT_PREFIX)}
        projection = {k[len(DIT_PREFIX + PROJECTION):]: v for k, v in own.items()
                      if k.startswith(DIT_PREFIX + PROJECTION)}
        dit = {k[len(DIT_PREFIX):]: v for k, v in own.items() if not k.startswith(DIT_PREFIX + PROJECTION)}
        expected = self.dit.state_dict()
        for name, tensor in dit.items():
            if name in expected and tuple(expected[name].shape) != tuple(tensor.shape):
                raise ConfigError(f"The generation head's '{name}' has shape {tuple(tensor.shape)} but the native "
                                  f"LuminaNextDiT2DModel builds {tuple(expected[name].shape)}.",
                                  "The checkpoint's DiT does not match diffusers' Lumina-Next block (FFN sizing?).")
        for module, part, label in ((self.dit, dit, "DiT"), (self.caption_projection, projection, "projection")):
            missing, unexpected = module.load_state_dict(part, strict=False)
            missing = [k for k in missing if module is not self.dit or k not in NOT_IN_CHECKPOINT]
            if missing or unexpected:
                raise ConfigError(f"The generation head's {label} weights do not match: missing {missing[:3]}, "
                                  f"unexpected {unexpected[:3]}.", "Is this a BLIP3-o (blip3o_qwen) checkpoint?")

    def rotary(self, device: torch.device) -> Tensor:
        if self._rope is None:
            from diffusers.models.embeddings import get_2d_rotary_pos_embed_lumina

            head = self.config.hidden // self.config.heads
            self._rope = get_2d_rotary_pos_embed_lumina(head, ROPE_EXTENT, ROPE_EXTENT)
        return self._rope.to(device)

    def velocity(self, x: Tensor, t: Tensor, condition: Tensor) -> Tensor:
        """One DiT evaluation on ``(B, C, g, g)`` noisy features at flow time ``t`` (B,)."""
        cond = self.caption_projection(condition)
        mask = torch.ones(cond.shape[:2], dtype=torch.long, device=cond.device)
        return self.dit(x, t, cond, mask, self.rotary(x.device), cross_attention_kwargs={}, return_dict=False)[0]

    @torch.no_grad()
    def sample(self, condition: Tensor, *, steps: int, guidance: float, seed: int) -> Tensor:
        """Flow-matching Euler from seeded noise (sample i: ``seed + i``) with CFG against zero conditioning."""
        from diffusers import FlowMatchEulerDiscreteScheduler

        c = self.config
        dtype = next(self.parameters()).dtype
        scheduler = FlowMatchEulerDiscreteScheduler(**FLOW_SCHEDULER)
        scheduler.set_timesteps(steps, sigmas=np.linspace(1.0, 1.0 / steps, steps))
        noise = [torch.randn(c.channels, c.grid, c.grid, generator=torch.Generator().manual_seed(seed + i))
                 for i in range(condition.shape[0])]
        x = torch.stack(noise).to(condition.device, dtype)
        both = torch.cat([condition, torch.zeros_like(condition)]).to(dtype)
        for t in scheduler.timesteps:
            out = self.velocity(torch.cat([x, x]), t.expand(2 * x.shape[0]).to(x.device), both)
            cond, uncond = out.chunk(2)
            x = scheduler.step(uncond + guidance * (cond - uncond), t, x).prev_sample.to(dtype)
        return x.flatten(2).transpose(1, 2)  # (B, g*g, C) raster order
