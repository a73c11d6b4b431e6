"""Qwen2.5-VL's chat layout (ChatML) and batched prompt tokenisation with 3-D M-RoPE positions.

A single-image VQA turn reads::

    <|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n<|vision_start|><|image_pad|> x N<|vision_end|>
    {question}<|im_end|>\\n<|im_start|>assistant\\n{answer}<|im_end|>

``N`` placeholders, one per merged patch (``(S / 28)**2``), are overwritten by the vision tower's output,
as ``Qwen2_5_VLModel`` does. The pieces meet at special tokens, so tokenising them separately equals
tokenising the whole prompt (the tests check the ids against the processor). Positions are the native
``get_rope_index`` over the batch (text: 1-D, image: (t, h, w)), computed on the CPU with the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from unigame_core.prompts import ChatPrompts, TokenBatch

IMAGE_PAD = "<|image_pad|>"
TAIL = "<|im_end|>\n<|im_start|>assistant\n"  # after the question


class PromptBuilder(ChatPrompts):
    """Questions (and answers) -> left-padded ChatML ids around one image block, and their positions."""

    def __init__(self, tokenizer: Any, system_prompt: str | None, num_image_tokens: int, grid: int,
                 rope_index: Callable[..., tuple[Tensor, Tensor]], context: int | None = None) -> None:
        super().__init__(tokenizer, between="", tail=TAIL, answer_prefix="",
                         eos_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), context=context)
        self.num_image_tokens = num_image_tokens
        self.grid = grid  # patches per side (before the 2 x 2 merge)
        self.rope_index = rope_index
        self.image_token_id: int = tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        system = f"<|im_start|>system\n{system_prompt}<|im_end|>\n" if system_prompt else ""
        block = "<|vision_start|>" + IMAGE_PAD * num_image_tokens + "<|vision_end|>"
        self.head = f"{system}<|im_start|>user\n"
        self.prefix_ids = self.encode([self.head + block])[0]

    def messages(self, question: str, answer: str | None = None) -> list[dict[str, Any]]:
        """The chat messages of one sample (what a processor's ``apply_chat_template`` is given)."""
        turns: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question.strip()}]}]
        if answer is not None:
            turns.append({"role": "assistant", "content": [{"type": "text", "text": answer.strip()}]})
        return turns

    def grid_thw(self, batch: int) -> Tensor:
        return torch.tensor([[1, self.grid, self.grid]], dtype=torch.long).expand(batch, 3)

    def token_types(self, batch: TokenBatch) -> Tensor:
        """``mm_token_type_ids``: 1 at the image placeholders, 0 elsewhere."""
        return (batch.input_ids == self.image_token_id).int()

    def positions(self, batch: TokenBatch) -> Tensor:
        """``(3, B, L)`` M-RoPE positions from the native ``get_rope_index`` (left padding ignored)."""
        with torch.no_grad():
            positions, _ = self.rope_index(batch.input_ids, self.token_types(batch),
                                           image_grid_thw=self.grid_thw(batch.input_ids.shape[0]),
                                           attention_mask=batch.attention_mask)
        return positions
