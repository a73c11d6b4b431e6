"""Tokenised chat batches and the per-sample answer loss that every backend shares.

A backend builds a left-padded ``TokenBatch`` whose ``answer_mask`` marks the answer tokens; the LLM
runs once, and ``answer_cross_entropy`` applies the LM head ONLY at the positions that predict an
answer token (a ``(T, V)`` matrix, never ``(B, L, V)``), returning each sample's mean CE.

``pack_rows`` also applies the one length policy every backend shares: a row never exceeds the model's
context (``Understander.context_length``). One 100 KB question once drove a 7B run to 23.6 GB of RSS
and an out-of-memory kill; now an over-long question loses its end (the chat template's tail is kept,
so the model still answers), an over-long answer keeps its first tokens and EOS, and each cut is
counted in a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

log = logging.getLogger(__name__)

#: characters kept of a question before tokenising: far above any context (a token is rarely over a few
#: characters), it only spares the tokenizer megabytes of text; ``pack_rows`` then cuts exactly, in tokens
CHARS_PER_TOKEN_BOUND = 16
truncated = {"questions": 0, "answers": 0}  # cuts made in this process (the warnings report them)


@dataclass
class TokenBatch:
    """Left-padded token ids of a batch; ``answer_mask`` marks the answer tokens (the CE targets)."""

    input_ids: Tensor  # (B, L) long
    attention_mask: Tensor  # (B, L) long, 0 on the left padding
    answer_mask: Tensor  # (B, L) bool

    @property
    def position_ids(self) -> Tensor:
        """Positions that ignore the left padding (each sample's first real token is at 0)."""
        return (self.attention_mask.cumsum(-1) - 1).clamp_(min=0)

    def image_index(self, image_token_id: int) -> Tensor:
        """Flat ``(B * L)`` positions of the image placeholders, sample by sample, in order."""
        return (self.input_ids.flatten() == image_token_id).nonzero().squeeze(1)

    def answer_index(self) -> tuple[Tensor, Tensor, Tensor]:
        """(flat positions that predict an answer token, those answer tokens, their sample index).

        Computed on the CPU where the batch is built, so the device never waits on a boolean mask.
        """
        sample, column = self.answer_mask.nonzero(as_tuple=True)
        width = self.input_ids.shape[1]
        return sample * width + column - 1, self.input_ids[sample, column], sample


def answer_cross_entropy(hidden: Tensor, lm_head: torch.nn.Module, batch: TokenBatch, device: torch.device) -> Tensor:
    """Per-sample mean CE over the answer tokens, ``(B,)`` float32, from the LLM's ``(B, L, D)`` hidden states."""
    predictors, labels, sample = (t.to(device, non_blocking=True) for t in batch.answer_index())
    logits = lm_head(hidden.flatten(0, 1).index_select(0, predictors))
    token_ce = F.cross_entropy(logits.float(), labels, reduction="none")
    totals = torch.zeros(batch.input_ids.shape[0], device=device).index_add_(0, sample, token_ce)
    return totals / batch.answer_mask.sum(1).clamp(min=1).to(device, non_blocking=True)


def clip_text(text: str, context: int | None) -> str:
    """At most ``context * CHARS_PER_TOKEN_BOUND`` characters of ``text`` (cheap, before tokenising)."""
    return text if context is None else text[: context * CHARS_PER_TOKEN_BOUND]


def _warn(kind: str, after: int, context: int) -> None:
    truncated[kind] += 1
    count = truncated[kind]
    if count & (count - 1) == 0:  # the 1st, 2nd, 4th, 8th... cut: counted without flooding the log
        log.warning("%s too long for the model's %d-token context: cut to %d tokens (%d %s cut so far)",
                    kind[:-1].capitalize(), context, after, count, kind)


def pack_rows(prefix: Sequence[int], prompts: Sequence[list[int]], targets: Sequence[list[int]], pad_id: int, *,
              context: int | None = None, keep_tail: int = 0, reserve: int = 0) -> TokenBatch:
    """Rows ``prefix + prompt + target``, left-padded into a ``TokenBatch``, each within ``context`` tokens.

    ``prefix`` holds the image block (never cut); ``prompt`` the question and the chat template's tail, of which
    the last ``keep_tail`` tokens are kept whole; ``target`` the answer tokens ending with EOS (empty when
    generating). ``reserve`` tokens stay free for generation. An answer may take at most half of the room left
    after the prefix; a question then whatever remains.
    """
    rows, kept_targets = [], []
    for prompt, target in zip(prompts, targets):
        if context is not None:
            room = context - len(prefix) - reserve
            if room < keep_tail + 2:
                raise ValueError(f"the image and chat template take {len(prefix) + keep_tail} of the model's "
                                 f"{context} context tokens: no room for a question")
            if len(target) > room // 2:
                _warn("answers", room // 2, context)
                target = [*target[: room // 2 - 1], target[-1]]
            limit = room - len(target)
            if len(prompt) > limit:
                _warn("questions", limit, context)
                prompt = [*prompt[: limit - keep_tail], *prompt[len(prompt) - keep_tail:]]
        rows.append([*prefix, *prompt, *target])
        kept_targets.append(target)
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], dtype=torch.long)
    attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    answer = torch.tensor([[False] * (width - len(t)) + [True] * len(t) for t in kept_targets], dtype=torch.bool)
    return TokenBatch(ids, attention, answer)


class ChatPrompts:
    """Questions (and answers) -> one chat turn of token ids per sample, left-padded into a ``TokenBatch``.

    A row is ``prefix_ids`` (BOS, the chat head, the image block: the same for every sample, set by the
    backend's subclass), then ``between + question + tail``, then ``answer_prefix + answer`` and ``eos_id``.
    The pieces are tokenised separately; a backend's chat template must meet them at special tokens, so
    that this equals tokenising the whole prompt (each backend's tests check it against its processor).
    """

    def __init__(self, tokenizer: Any, *, between: str, tail: str, answer_prefix: str, eos_id: int,
                 context: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.between, self.tail, self.answer_prefix = between, tail, answer_prefix
        self.context = context  # the LLM's max_position_embeddings: rows are cut to it
        self.tail_tokens = len(self.encode([tail])[0])
        self.eos_id = eos_id
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id
        self.prefix_ids: list[int] = []

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Each text's ids, no special tokens added."""
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def build(self, questions: Sequence[str], answers: Sequence[str] | None = None, reserve: int = 0) -> TokenBatch:
        """Prompt (+ answer + EOS) per sample, left-padded; without answers: generation prompts, ``reserve``
        tokens left free for the answer. Rows are cut to ``context`` tokens (``pack_rows``)."""
        prompts = self.encode([f"{self.between}{clip_text(q.strip(), self.context)}{self.tail}" for q in questions])
        if answers is None:
            targets: list[list[int]] = [[] for _ in prompts]
        else:
            if len(answers) != len(questions):
                raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
            encoded = self.encode([f"{self.answer_prefix}{clip_text(a.strip(), self.context)}" for a in answers])
            targets = [ids + [self.eos_id] for ids in encoded]
        return pack_rows(self.prefix_ids, prompts, targets, self.pad_id, context=self.context,
                         keep_tail=self.tail_tokens, reserve=reserve)
