"""EVA-CLIP's vision tower, the encoder whose features BLIP3-o's generator writes (our own small module).

BLIP3-o trains its DiT to predict EVA-CLIP-E-14-plus features and decodes them with an SDXL-layout
diffusion decoder, so those features are the shared visual tokens ``z`` of UniGame. The tower is a plain
ViT: patch embedding, a CLS token, absolute positions, pre-LayerNorm blocks whose attention and MLP
outputs are normalised again before the residual add ("post-norm" in EVA-CLIP's words), a fused ``qkv``
with bias, a GELU MLP, no RoPE. BLIP3-o reads the LAST block's output without a final norm, drops the
CLS token and average-pools the 32 x 32 grid by 4 to 8 x 8 = 64 tokens of width 1792.

Parameter names follow the upstream checkpoint (``patch_embed.proj``, ``blocks.N.attn.qkv``...), so its
``pytorch_model.bin`` loads with ``load_state_dict`` (read with ``torch.load(weights_only=True)``: no
pickled code runs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: OpenAI CLIP normalisation, which EVA-CLIP's image processor uses (bicubic resize to 448)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class EvaConfig:
    """EVA-CLIP-E-14-plus by default (4.35 B parameters)."""

    image_size: int = 448
    patch_size: int = 14
    width: int = 1792
    layers: int = 64
    head_width: int = 112
    mlp_width: int = 15360
    layer_norm_eps: float = 1e-6

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width, bias=True)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, c: EvaConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c.width, eps=c.layer_norm_eps)
        self.attn = _Attention(c.width, c.width // c.head_width)
        self.norm2 = nn.LayerNorm(c.width, eps=c.layer_norm_eps)
        self.mlp = _Mlp(c.width, c.mlp_width)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.norm1(self.attn(x))  # EVA-CLIP's post-norm: normalise the branch, not its input
        return x + self.norm2(self.mlp(x))


class _PatchEmbed(nn.Module):
    def __init__(self, c: EvaConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, c.width, kernel_size=c.patch_size, stride=c.patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class EvaVisionTower(nn.Module):
    """Normalised ``(B, 3, image_size, image_size)`` -> the last block's patch features ``(B, grid**2, width)``."""

    def __init__(self, config: EvaConfig) -> None:
        super().__init__()
        self.config = config
        grid = config.image_size // config.patch_size
        self.patch_embed = _PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, config.width))
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.layers))

    @property
    def grid(self) -> int:
        return self.config.image_size // self.config.patch_size

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1) + self.pos_embed.to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return x[:, 1:]  # no final norm; the CLS token is dropped


def pool_tokens(features: Tensor, grid: int, tokens: int) -> Tensor:
    """``(B, grid**2, C)`` -> ``(B, tokens, C)`` by 2-D average pooling (BLIP3-o's ``early_pool2d``), raster order."""
    side = int(round(tokens**0.5))
    if side * side != tokens or grid % side:
        raise ValueError(f"cannot pool a {grid} x {grid} grid to {tokens} tokens")
    b, _, c = features.shape
    maps = features.transpose(1, 2).reshape(b, c, grid, grid)
    return F.avg_pool2d(maps, grid // side).flatten(2).transpose(1, 2)
