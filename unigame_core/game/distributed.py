"""torch.distributed helpers for the small trainable sets (LoRA, perturber).

The roles call the backend's sub-modules directly, so a DDP wrapper around the whole model would
never see a forward; instead the trainable gradients are flattened and all-reduced by hand after
each backward. Every rank calls the same collectives in the same order (no rank-dependent branch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    if not is_active():
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).float() for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).to(p.dtype)
        offset += n


def all_finite(value: Tensor) -> bool:
    """True when ``value`` is finite on every rank (so all ranks skip or step together)."""
    ok = torch.isfinite(value.detach()).all().float().reshape(1)
    if is_active():
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    return bool(ok.item() > 0)


def all_mean(value: float, device: torch.device) -> float:
    if not is_active():
        return value
    t = torch.tensor([value], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item() / dist.get_world_size())


def barrier() -> None:
    if is_active():
        dist.barrier()
