"""The contracts between the core and its plugins: thin abstract base classes.

Conventions shared by every role:

* **pixels** are float tensors of shape ``(B, 3, S, S)`` with values in ``[0, 1]``, on the backend's
  device, ``S`` being ``Backend.image_size``. Each role normalises internally as its model expects.
* **shared tokens** ``z`` are continuous tensors ``(B, N, D)``: the visual tokens both branches of
  the unified model share (Janus: L2-normalised VQ codes; Emu3: MoVQ codebook vectors; BLIP3-o:
  CLIP features). The perturber acts on them, the decoder turns them into pixels.
* **image embeddings** ``(B, N_u, D_u)`` are what the LLM reads at the image positions.
* losses are **per sample**, shape ``(B,)``: mean cross-entropy over that sample's answer tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn


# --------------------------------------------------------------------------------------------
# Data that crosses an interface
# --------------------------------------------------------------------------------------------
@dataclass
class VQABatch:
    """A training or evaluation batch: images already on the device as ``[0, 1]`` pixels."""

    images: Tensor
    questions: list[str]
    answers: list[str]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.questions)


@dataclass
class GateInput:
    """What a validator sees: clean and adversarial pixels and tokens, and the sample's text."""

    clean_pixels: Tensor
    adv_pixels: Tensor
    clean_tokens: Tensor | None
    adv_tokens: Tensor | None
    texts: list[str]


@dataclass
class GateResult:
    keep: Tensor  # bool (B,): True = the sample kept its meaning and may be used
    score: Tensor  # float (B,): the similarity the decision was made on


@dataclass
class HardSamples:
    """Adversarial samples, each stored with ITS OWN question and answer (never a neighbour's)."""

    images: Tensor  # (K, 3, S, S) in [0, 1]
    questions: list[str]
    answers: list[str]
    hardness: Tensor  # (K,) the understander's CE on each sample when it was mined (minus ``reference``)
    reference: Tensor | None = None  # (K,) the delta = 0 CE subtracted from it (round-trip hardness); None: 0

    def __len__(self) -> int:
        return len(self.questions)


@dataclass
class StepPlan:
    """What one game step does, decided by the schedule."""

    adversary_updates: int  # perturber forward/backward passes this step (same on every rank)
    mine: bool  # push the adversary's hard samples into the buffer this step
    eps_scale: float  # multiplies eps_max (warm-up)
    beta: float  # weight of the buffer loss in the understander's objective


@dataclass
class ScoredRows:
    """The prediction rows a metric averages: rows whose fields equal ``where`` (every row when empty).
    The metric is ``scale`` times the mean of their ``score``, so it gets an n, a 95 % interval and a
    paired before/after comparison per question (``unigame_core.stats``)."""

    where: dict[str, str] = field(default_factory=dict)
    scale: float = 1.0


@dataclass
class SuiteResult:
    """Metrics of one suite plus per-sample predictions (each with an ``id`` and a ``score``)."""

    metrics: dict[str, float]
    n: int
    predictions: list[dict[str, Any]]
    details: dict[str, Any]
    #: metrics that are a mean of per-question scores; others (F1, per-image agreement) get no interval
    per_question: dict[str, ScoredRows] = field(default_factory=dict)
    #: the n of a metric that is not a per-question mean and is not computed on the whole suite: one POPE
    #: category's F1 (that category's questions), ``image_consistency`` (the images); others have ``n``
    counts: dict[str, int] = field(default_factory=dict)
    #: options this run did not apply (e.g. an adaptive attack's settings on the fixed split): not recorded
    unused_options: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------------
class SharedTokenEncoder(ABC):
    """Image -> the shared visual tokens the generation side writes (frozen)."""

    @abstractmethod
    def encode(self, pixels: Tensor) -> Tensor:
        """``(B, 3, S, S)`` pixels -> ``(B, N, D)`` shared tokens (no gradient needed)."""

    @property
    @abstractmethod
    def token_shape(self) -> tuple[int, int]:
        """``(N, D)``: number of tokens per image and their width."""

    def token_ids(self, tokens: Tensor) -> Tensor | None:
        """``(B, N, D)`` tokens (perturbed or not) -> ``(B, N)`` ids of their nearest codebook entries, for a
        VQ tokenizer (game health reports the share of ids a perturbation changes); ``None`` (the default)
        for continuous tokens."""
        return None


class Decoder(ABC):
    """Shared tokens -> pixels, with a gradient to the tokens (exact or straight-through)."""

    @abstractmethod
    def decode(self, tokens: Tensor) -> Tensor:
        """``(B, N, D)`` tokens -> ``(B, 3, S, S)`` pixels in ``[0, 1]``, differentiable in ``tokens``."""


class Understander(ABC):
    """The understanding branch: pixels + question -> answer (the player LoRA trains)."""

    @abstractmethod
    def embed_images(self, pixels: Tensor) -> Tensor:
        """Pixels -> ``(B, N_u, D_u)`` embeddings at the LLM's image positions, differentiable in pixels."""

    @property
    @abstractmethod
    def embedding_dim(self) -> int:
        """``D_u``, the width of ``embed_images``' output (the embedding coupling perturbs it)."""

    @abstractmethod
    def answer_loss(self, image_embeds: Tensor, questions: Sequence[str], answers: Sequence[str]) -> Tensor:
        """Per-sample mean CE over the answer tokens only, shape ``(B,)``.

        Must not materialise full-vocabulary logits for every position: only answer positions.
        """

    @abstractmethod
    def generate(self, pixels: Tensor, questions: Sequence[str], max_new_tokens: int = 16) -> list[str]:
        """Batched greedy answers (KV cache), one string per sample."""

    @property
    def context_length(self) -> int | None:
        """The most tokens one sequence (image block, chat template, question, answer) may hold; ``None``
        when the backend declares no limit. A backend that declares one builds its batches with
        ``unigame_core.prompts.pack_rows``, which cuts longer questions and answers to it (the core's policy,
        each cut counted in a warning): a 100 KB question must not exhaust memory."""
        return None


def checkpoint_guidance(model: Any, default: float = 5.0) -> float:
    """The classifier-free guidance scale a checkpoint ships (``model.generation_config.guidance_scale``),
    else ``default``: what ``Backend.generate_images(guidance_scale=None)`` uses."""
    return float(getattr(getattr(model, "generation_config", None), "guidance_scale", None) or default)


class Backend(ABC):
    """One model's weights and the roles it plays. Built as ``Backend(config, device=..., dtype=...)``."""

    @classmethod
    def check_weights(cls, settings: Any) -> None:
        """Raise a ``UnigameError`` at once when the weights ``settings`` names cannot be had (a checkpoint
        folder that is not there, a hub id neither cached nor downloadable), loading nothing. ``unigame train``
        calls it before the model loads, so the problem is reported together with the run's other ones (the
        data, the gate). The default checks nothing; ``unigame_core.hf.HFBackend`` checks its checkpoint."""

    @property
    @abstractmethod
    def encoder(self) -> SharedTokenEncoder: ...

    @property
    @abstractmethod
    def decoder(self) -> Decoder: ...

    @property
    @abstractmethod
    def understander(self) -> Understander: ...

    @property
    @abstractmethod
    def model(self) -> nn.Module:
        """The module LoRA is attached to (in place) and whose adapters are saved."""

    @property
    @abstractmethod
    def image_size(self) -> int:
        """``S``: the side of the square pixels every role takes."""

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[str]:
        """What optional abilities exist, e.g. ``{"text_to_image"}``."""

    @property
    def random_weights(self) -> bool:
        """The weights are random (a bench of the architecture): the run's other models (the gate) need none."""
        return False

    @property
    def stand_in(self) -> str | None:
        """``None`` for the model asked for; else what it stands in for, shown in every output (a tiny
        stand-in built on request, e.g. ``backend.tiny=true``)."""
        return None

    @abstractmethod
    def lora_target_modules(self, include_mlp: bool = False) -> str | list[str]:
        """peft ``target_modules`` (a regex or names) selecting the LLM's attention projections only; with
        ``include_mlp`` (``lora.include_mlp``) also its MLP projections. Never the vision towers or tokenisers."""

    @abstractmethod
    def image_transform(self) -> Callable[[Tensor], Tensor]:
        """A picklable function ``uint8 (3, H, W) -> uint8 (3, S, S)`` (resize, pad to square) run in
        data-loader workers, matching the checkpoint's own processor."""

    @abstractmethod
    def generate_images(self, prompts: Sequence[str], *, guidance_scale: float | None = None, seed: int = 0) -> Tensor:
        """Text-to-image with the generation branch: ``(B, 3, S, S)`` in ``[0, 1]``.

        ``guidance_scale`` is the classifier-free guidance scale; ``None`` means the checkpoint's own setting.

        Raise ``unigame_core.errors.CapabilityError`` when ``"text_to_image"`` is not a capability.
        """


class Validator(ABC):
    """The semantic gate: drop adversarial samples whose meaning drifted."""

    @abstractmethod
    def check(self, pair: GateInput) -> GateResult:
        """Score each sample and decide; samples BELOW the threshold are discarded (keep=False)."""


class Buffer(ABC):
    """Keeps the adversarial samples that beat the understander, by per-sample hardness."""

    @abstractmethod
    def push(self, samples: HardSamples) -> int:
        """Offer candidates; returns how many were admitted (hardness >= tau, capacity permitting)."""

    @abstractmethod
    def draw(self, n: int, generator: torch.Generator) -> tuple[HardSamples, Tensor] | None:
        """Up to ``n`` samples by priority and their importance weights ``(n,)``; ``None`` when empty."""

    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def threshold(self) -> float:
        """The current hardness threshold tau (absolute, or the running quantile)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]: ...

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def stored(self) -> HardSamples | None:
        """Everything the buffer holds (``hardness`` and ``reference`` as stored), for re-scoring; ``None``
        (the default) when it does not support re-scoring."""
        return None

    def rescore(self, ce: Tensor) -> None:
        """Replace the stored hardness with ``ce - reference``, ``ce`` the current understander's CE on each
        sample of ``stored()``, in its order. Only called when ``stored()`` is not None."""
        raise NotImplementedError


class GameSchedule(ABC):
    """The alternation of the min-max game."""

    @abstractmethod
    def plan(self, step: int) -> StepPlan:
        """The plan of step ``step`` (0-based); must be identical on every rank."""


class Suite(ABC):
    """An evaluation benchmark over official data files with the official metric."""

    @abstractmethod
    def check_data(self) -> None:
        """Raise ``DataError`` naming the missing file before any model loads."""

    @abstractmethod
    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        """Run the benchmark on ``backend`` and return its metrics and predictions."""
