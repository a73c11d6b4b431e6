"""HardBuffer: the samples that beat the understander, kept by per-sample hardness.

Hardness H_i is the understander's cross-entropy on candidate i (one number per candidate, never a
batch mean). A candidate enters when H_i >= tau, where tau is absolute or a running quantile of
recent candidates' hardness. At capacity, a newcomer replaces the easiest stored sample only if it
is harder (``policy=fifo`` instead replaces the oldest: with tau = -inf this is "no buffer", the
understander simply replays the latest adversarial samples, as in the paper's buffer-less rows).
Each sample keeps its own image, question and answer. Draws are by priority
p_i ~ exp(H_i / T) (uniform when T = 0), without replacement.

Hardness goes stale: a sample the understander has since learned keeps the CE it had when it was mined,
so a ``hardest`` buffer would hold on to it and turn every newcomer away (a frozen buffer). ``rescore``
replaces it with the current CE minus the sample's own ``reference`` (its delta = 0 CE when mined, kept
with it); the game loop calls it every ``game.rescore_every`` steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..interfaces import Buffer, HardSamples
from .settings import HardBufferConfig

_DTYPES = {"float16": torch.float16, "float32": torch.float32, "uint8": torch.uint8}


class HardBuffer(Buffer):
    def __init__(self, cfg: HardBufferConfig) -> None:
        if cfg.tau_mode not in ("absolute", "quantile"):
            raise ValueError("tau_mode must be 'absolute' or 'quantile'")
        if cfg.policy not in ("hardest", "fifo"):
            raise ValueError("policy must be 'hardest' or 'fifo'")
        self.cfg = cfg
        self.images: Tensor | None = None  # (K, 3, S, S) in storage dtype
        self.questions: list[str] = []
        self.answers: list[str] = []
        self.hardness = torch.empty(0)
        self.reference = torch.empty(0)  # the delta = 0 CE each sample's hardness is relative to (0: none)
        self.recent = torch.empty(0)  # hardness of recent candidates, for the running quantile
        self.born = torch.empty(0, dtype=torch.long)  # insertion order (fifo policy)
        self.clock = 0

    def __len__(self) -> int:
        return len(self.questions)

    @property
    def threshold(self) -> float:
        if self.cfg.tau_mode == "absolute" or self.recent.numel() == 0:
            return float(self.cfg.tau)
        return float(torch.quantile(self.recent, self.cfg.quantile))

    def push(self, samples: HardSamples) -> int:
        hardness = samples.hardness.detach().float().cpu()
        reference = torch.zeros_like(hardness) if samples.reference is None else samples.reference.float().cpu()
        self.recent = torch.cat([self.recent, hardness])[-self.cfg.history :]
        tau = self.threshold
        admitted = 0
        for i in torch.argsort(hardness, descending=True).tolist():
            h = float(hardness[i])
            if not (h >= tau and h == h):  # NaN never enters
                continue
            slot = self._slot_for(h)
            if slot is None:
                continue
            self._store(slot, samples.images[i], samples.questions[i], samples.answers[i], h, float(reference[i]))
            admitted += 1
        return admitted

    def _slot_for(self, h: float) -> int | None:
        if len(self) < self.cfg.capacity:
            return len(self)
        if self.cfg.policy == "fifo":
            return int(torch.argmin(self.born))
        easiest = int(torch.argmin(self.hardness))
        return easiest if h > float(self.hardness[easiest]) else None

    def _store(self, slot: int, image: Tensor, question: str, answer: str, h: float, ref: float) -> None:
        stored = self._to_storage(image.detach())
        if self.images is None:
            self.images = stored.new_empty((self.cfg.capacity, *stored.shape))
        self.images[slot] = stored
        if slot == len(self):
            self.questions.append(question)
            self.answers.append(answer)
            self.hardness = torch.cat([self.hardness, torch.tensor([h])])
            self.reference = torch.cat([self.reference, torch.tensor([ref])])
            self.born = torch.cat([self.born, torch.tensor([self.clock])])
        else:
            self.questions[slot], self.answers[slot] = question, answer
            self.hardness[slot], self.reference[slot] = h, ref
            self.born[slot] = self.clock
        self.clock += 1

    def _to_storage(self, image: Tensor) -> Tensor:
        dtype = _DTYPES[self.cfg.storage]
        if dtype == torch.uint8:
            return (image.float().clamp(0, 1) * 255).round().to(torch.uint8)
        return image.to(dtype)

    def _from_storage(self, images: Tensor) -> Tensor:
        if images.dtype == torch.uint8:
            return images.float() / 255.0
        return images.float()

    def draw(self, n: int, generator: torch.Generator) -> tuple[HardSamples, Tensor] | None:
        k = len(self)
        if k == 0 or n <= 0 or self.images is None:
            return None
        n = min(n, k)
        if self.cfg.temperature > 0:
            logits = self.hardness / self.cfg.temperature
            probs = torch.softmax(logits - logits.max(), dim=0)
        else:
            probs = torch.full((k,), 1.0 / k)
        idx = torch.multinomial(probs, n, replacement=False, generator=generator)
        picked = HardSamples(
            images=self._from_storage(self.images[idx.to(self.images.device)]),
            questions=[self.questions[i] for i in idx.tolist()],
            answers=[self.answers[i] for i in idx.tolist()],
            hardness=self.hardness[idx].clone(),
        )
        return picked, torch.ones(n)

    def stored(self) -> HardSamples | None:
        k = len(self)
        if k == 0 or self.images is None:
            return None
        return HardSamples(self._from_storage(self.images[:k]), list(self.questions), list(self.answers),
                           self.hardness.clone(), self.reference.clone())

    def rescore(self, ce: Tensor) -> None:
        if ce.shape != self.hardness.shape:
            raise ValueError(f"rescore needs one CE per stored sample ({len(self)}), got {tuple(ce.shape)}")
        self.hardness = ce.detach().float().cpu() - self.reference

    def state_dict(self) -> dict[str, Any]:
        k = len(self)
        return {
            "images": None if self.images is None else self.images[:k].cpu(),
            "questions": list(self.questions),
            "answers": list(self.answers),
            "hardness": self.hardness.clone(),
            "reference": self.reference.clone(),
            "recent": self.recent.clone(),
            "born": self.born.clone(),
            "clock": self.clock,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.questions = list(state["questions"])
        self.answers = list(state["answers"])
        self.hardness = state["hardness"].clone().float()
        # a buffer saved before references were kept: plain CE hardness, nothing to subtract
        self.reference = state["reference"].clone().float() if "reference" in state else torch.zeros_like(
            self.hardness)
        self.recent = state["recent"].clone().float()
        self.born = state["born"].clone()
        self.clock = int(state["clock"])
        self.images = None
        images = state["images"]
        if images is not None and len(self.questions):
            self.images = images.new_empty((self.cfg.capacity, *images.shape[1:]))
            self.images[: len(self.questions)] = images

    def to(self, device: torch.device | str) -> HardBuffer:
        """Keep stored images on the training device (no host round trips inside the step)."""
        if self.images is not None:
            self.images = self.images.to(device)
        self._device = device
        return self
