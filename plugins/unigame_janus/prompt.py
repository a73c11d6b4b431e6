"""Janus' chat layout, read from the checkpoint's own chat template, and batched prompt tokenisation.

A single-image VQA turn in Janus-Pro reads (system prompt first, when the processor uses one)::

    <bos>{system}<|User|>: <begin_of_image><image_placeholder>x576<end_of_image>\\n{question}\\n\\n<|Assistant|>: {answer}<eos>

The template is rendered once with sentinels to find the text around the image and the question, so
every batch is tokenised with plain string concatenation, no per-sample template rendering. Special
tokens (``<begin_of_image>``, ``<end_of_image>``) split the text exactly where the pieces meet, so
tokenising the pieces equals tokenising the whole prompt (the tests check it against the processor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unigame_core.prompts import ChatPrompts

_Q = "\x00QUESTION\x00"
_A = "\x00ANSWER\x00"


@dataclass(frozen=True)
class ChatLayout:
    """The strings around the image block, the question and the answer in one chat turn."""

    head: str = "<|User|>: "  # system prompt excluded
    between: str = "\n"  # after the image block, before the question
    tail: str = "\n\n<|Assistant|>:"  # after the question
    answer_prefix: str = " "  # before the answer

    @classmethod
    def from_processor(cls, processor: Any) -> ChatLayout:
        """Read the layout from ``processor.chat_template``; Janus' defaults when it has none."""
        if not processor.chat_template:
            return cls()
        image = processor.image_token
        user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": _Q}]}
        prompt = processor.apply_chat_template([user], add_generation_prompt=True, tokenize=False)
        full = processor.apply_chat_template(
            [user, {"role": "assistant", "content": [{"type": "text", "text": _A}]}], tokenize=False
        )
        head, rest = prompt.split(image, 1)
        between, tail = rest.split(_Q, 1)
        answer_prefix = full[len(prompt):].split(_A, 1)[0] if full.startswith(prompt) else " "
        return cls(head=head, between=between, tail=tail, answer_prefix=answer_prefix)


class PromptBuilder(ChatPrompts):
    """Turns questions (and answers) into Janus chat token ids with ``num_image_tokens`` placeholders."""

    def __init__(self, tokenizer: Any, layout: ChatLayout, system_prompt: str, num_image_tokens: int,
                 context: int | None = None) -> None:
        super().__init__(tokenizer, between=layout.between, tail=layout.tail, answer_prefix=layout.answer_prefix,
                         eos_id=tokenizer.eos_token_id, context=context)
        self.image_token_id = tokenizer.convert_tokens_to_ids(tokenizer.image_token)
        boi = tokenizer.convert_tokens_to_ids(tokenizer.boi_token)
        eoi = tokenizer.convert_tokens_to_ids(tokenizer.eoi_token)
        prefix = tokenizer(system_prompt + layout.head)["input_ids"]  # adds BOS as the tokenizer does
        self.prefix_ids = [*prefix, boi, *([self.image_token_id] * num_image_tokens), eoi]
