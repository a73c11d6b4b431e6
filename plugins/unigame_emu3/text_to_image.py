"""Text-to-image with Emu3-Gen: the LLM writes the image block token by token, the MoVQ draws it.

The layout constraint is Emu3's own recipe: after ``<|image start|>{h}*{w}<|image token|>`` the model may
emit only visual tokens, with ``<|extra_200|>`` closing every row of ``w``, then ``<|extra_201|>``,
``<|image end|>`` and EOS. Classifier-free guidance uses a negative prompt. The tokens are decoded with
the backend's 2-D MoVQ path (the same pixels as ``Emu3Model.decode_image_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .roles import Emu3Decoder


class ImageLayout:
    """``prefix_allowed_tokens_fn`` for ``generate``: the tokens allowed at each place of an ``h x w`` image block."""

    def __init__(self, tokenizer: Any, visual_ids: Sequence[int], eol_id: int, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.wrapper = tokenizer.convert_tokens_to_ids(tokenizer.image_wrapper_token)
        self.visual = list(visual_ids)
        self.eol, self.eof = [eol_id], [tokenizer.convert_tokens_to_ids(tokenizer.eof_token)]
        self.eoi = [tokenizer.convert_tokens_to_ids(tokenizer.eoi_token)]
        self.eos, self.pad = [tokenizer.eos_token_id], [tokenizer.pad_token_id]

    @property
    def length(self) -> int:
        """New tokens of one image block: rows with terminators, then EOF, EOI and EOS."""
        return self.height * (self.width + 1) + 3

    def __call__(self, batch_id: int, input_ids: Tensor) -> list[int]:
        where = (input_ids == self.wrapper).nonzero()
        offset = input_ids.shape[0] - int(where[-1, 0]) if len(where) else 0
        block = self.height * (self.width + 1)
        if 0 < offset <= block:
            return self.eol if offset % (self.width + 1) == 0 else self.visual
        return {block + 1: self.eof, block + 2: self.eoi, block + 3: self.eos}.get(offset, self.pad)


@torch.no_grad()
def generate_images(model: Any, processor: Any, decoder: Emu3Decoder, prompts: Sequence[str], *, size: int,
                    guidance_scale: float, seed: int, negative_prompt: str) -> Tensor:
    """Batched text-to-image -> ``(B, 3, size, size)`` in ``[0, 1]``, float32 (sampling seeded by ``seed``)."""
    device = model.lm_head.weight.device
    texts = list(prompts)
    inputs = processor(text=texts, padding=True, return_tensors="pt", return_for_image_generation=True,
                       ratio="1:1", image_area=size * size)
    height, width = (int(v) for v in inputs.pop("image_sizes")[0])
    mapping = model.vocabulary_mapping
    layout = ImageLayout(processor.tokenizer, mapping.image_tokens, mapping.eol_token_id, height, width)
    extra: dict[str, Any] = {}
    if guidance_scale > 1.0:
        negative = processor(text=[negative_prompt] * len(texts), padding=True, return_tensors="pt")
        extra = {"guidance_scale": guidance_scale, "negative_prompt_ids": negative["input_ids"].to(device),
                 "negative_prompt_attention_mask": negative["attention_mask"].to(device)}
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=inputs["input_ids"].to(device), attention_mask=inputs["attention_mask"].to(device),
            max_new_tokens=layout.length, prefix_allowed_tokens_fn=layout, do_sample=True,
            pad_token_id=processor.tokenizer.pad_token_id, **extra,
        )
    block = out[:, inputs["input_ids"].shape[1]:][:, : height * (width + 1)]
    rows = block.reshape(len(texts), height, width + 1)[:, :, :width]  # drop the row terminators
    codes = mapping.bpe2img_mapping_tensor.to(rows.device)[rows].long()
    return decoder.decode_ids(codes.reshape(len(texts), height * width)).float()
