"""torch.distributed helpers for the small trainable sets (LoRA, perturber).

The roles call the backend's sub-modules directly, so a DDP wrapper around the whole model would
never see a forward; instead the trainable gradients are flattened and all-reduced by hand after
each backward. Every rank calls the same collectives in the same order (no rank-dependent branch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

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


def rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if is_active() else (0, 1)


def init(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)  # object collectives (all_gather_object) use the current device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)


def broadcast_params(params: list[torch.nn.Parameter]) -> None:
    """Start every rank from rank 0's trainable weights (as DDP does), whatever each rank's RNG drew."""
    if not is_active():
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, src=0)


def from_main(value: Tensor) -> Tensor:
    """Rank 0's ``value`` on every rank (same shape everywhere): one number for all where each rank's own
    computation may differ (dropout masks, kernel non-determinism)."""
    if not is_active():
        return value
    value = value.contiguous()
    dist.broadcast(value, src=0)
    return value


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


def all_sum(value: int, device: torch.device) -> int:
    """The sum of an integer over ranks (e.g. the global number of readable samples in a step)."""
    return all_sums([value], device)[0]


def all_sums(values: list[int], device: torch.device) -> list[int]:
    """Element-wise sums of a few integers over ranks, in one collective."""
    if not is_active():
        return list(values)
    t = torch.tensor(values, device=device, dtype=torch.int64)
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


def any_true(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank."""
    if not is_active():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process)."""
    if not is_active():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier() -> None:
    if is_active():
        dist.barrier()
