"""Emu3's chat layout, read from the checkpoint's own chat template, and batched prompt tokenisation.

A single-image VQA turn of the converted Emu3-Chat checkpoints reads (llava-1.5 style)::

    <bos>{system} USER: <|image start|>{h}*{w}<|image token|>[<image> x h*(w+1)]<|extra_201|><|image end|>
    {question} ASSISTANT: {answer}<eos>                      (one line: broken here for width)

The image block is the processor's own expansion (``Emu3Processor.replace_image_token``): ``h*(w+1)``
placeholders, one per visual token plus one row terminator per row, which the LLM reads as the visual
token embeddings with ``<|extra_200|>`` closing every row. The template is rendered once with sentinels
to find the text around the image and the question, so batches are tokenised by plain concatenation.
Special tokens split the text exactly where the pieces meet, so tokenising the pieces equals tokenising
the whole prompt (the tests check the result against the processor).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unigame_core.prompts import ChatPrompts

log = logging.getLogger(__name__)

_Q = "\x00QUESTION\x00"
_A = "\x00ANSWER\x00"


@dataclass(frozen=True)
class ChatLayout:
    """The strings around the image block, the question and the answer in one chat turn."""

    head: str = "USER: "  # everything before the image (the system prompt included)
    between: str = ""  # after the image block, before the question
    tail: str = " ASSISTANT:"  # after the question
    answer_prefix: str = " "  # before the answer

    @classmethod
    def from_processor(cls, processor: Any, system_prompt: str | None) -> ChatLayout:
        """Read the layout from ``processor.chat_template``; Emu3-Chat's layout when it has none."""
        default = cls(head=f"{system_prompt} USER: " if system_prompt else "USER: ")
        if not getattr(processor, "chat_template", None):
            return default
        system = [{"role": "system", "content": [{"type": "text", "text": system_prompt}]}] if system_prompt else []
        user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": _Q}]}
        answer = {"role": "assistant", "content": [{"type": "text", "text": _A}]}
        image = processor.image_token
        try:
            prompt = processor.apply_chat_template([*system, user], add_generation_prompt=True, tokenize=False)
            full = processor.apply_chat_template([*system, user, answer], tokenize=False)
        except Exception as exc:  # a template error must not stop training: Emu3's own layout is known
            log.warning("the checkpoint's chat template failed (%s): using Emu3-Chat's layout", exc)
            return default
        if prompt.count(image) != 1 or _Q not in prompt.split(image, 1)[1]:
            log.warning("the checkpoint's chat template does not render one image, then the question (%r): "
                        "using Emu3-Chat's layout", prompt[:200])
            return default
        head, rest = prompt.split(image, 1)
        between, tail = rest.split(_Q, 1)
        answer_prefix = full[len(prompt):].split(_A, 1)[0] if full.startswith(prompt) and _A in full else " "
        return cls(head=head, between=between, tail=tail, answer_prefix=answer_prefix)


class PromptBuilder(ChatPrompts):
    """Questions (and answers) -> Emu3 chat token ids around one ``image_size`` image block."""

    def __init__(self, processor: Any, layout: ChatLayout, image_size: int, context: int | None = None) -> None:
        tokenizer = processor.tokenizer
        super().__init__(tokenizer, between=layout.between, tail=layout.tail, answer_prefix=layout.answer_prefix,
                         eos_id=tokenizer.eos_token_id, context=context)
        self.layout = layout
        self.image_token: str = processor.image_token
        self.image_token_id: int = tokenizer.convert_tokens_to_ids(processor.image_token)
        block = processor.replace_image_token({"image_sizes": [[image_size, image_size]]}, 0)
        # the processor prepends BOS as text and tokenises with the tokenizer's defaults: mirror it
        prefix = tokenizer(f"{processor.bos_token}{layout.head}")["input_ids"]
        self.prefix_ids = [*prefix, *self.encode([block])[0]]
        self.num_image_tokens = self.prefix_ids.count(self.image_token_id)

    def texts(self, questions: Sequence[str], answers: Sequence[str] | None = None) -> list[str]:
        """The full prompt strings with a single ``<image>`` (what the processor itself would be given)."""
        lay = self.layout
        tails = [f"{lay.answer_prefix}{a.strip()}" for a in answers] if answers is not None else [""] * len(questions)
        return [f"{lay.head}{self.image_token}{lay.between}{q.strip()}{lay.tail}{t}" for q, t in zip(questions, tails)]
