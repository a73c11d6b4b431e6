"""BLIP3-o's real architectures without the hub: the shipped ``arch/*.json`` written out as a checkpoint folder.

Each file maps a path of a BLIP3-o snapshot to that file's JSON: ``config.json`` (the flat transformers-4.51
Qwen2.5-VL layout the hub repos use, ``model_type: blip3o_qwen``, ``n_query``...), the Qwen2.5-VL image
processor's numbers, ``diffusion-decoder/{unet,vae,scheduler}`` and the EVA tower's shape (``eva/config.json``).
``write_architecture`` lays them out in a folder with a generic word-level tokenizer (Qwen's special tokens and
``[IMG]``; its ids are not the real tokenizer's, so the config's token ids are pointed at it), and the
backend builds random weights from that folder through the same code as a downloaded snapshot's.
The numbers are those of Qwen2.5-VL-7B / 3B-Instruct, SDXL's UNet (cross-attention on 1792-wide EVA
features) and VAE, and EVA-CLIP-E-14-plus (see docs/models/blip3o.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .settings import BLIP3O_4B, BLIP3O_8B

ARCH_DIR = Path(__file__).parent / "arch"
ARCH_FILES = {BLIP3O_8B: "blip3o-8b.json", BLIP3O_4B: "blip3o-4b.json"}
PROCESSOR_FILE = "preprocessor_config.json"


def shipped(checkpoint: str) -> dict[str, Any] | None:
    """The architecture file's contents for a hub id that ships one, else ``None``."""
    name = ARCH_FILES.get(checkpoint)
    return json.loads((ARCH_DIR / name).read_text()) if name else None


def write_architecture(folder: str | Path, files: dict[str, Any]) -> Path:
    """Write ``files`` (path -> JSON) and a generic processor into ``folder``; returns ``folder``."""
    from .tiny import build_tokenizer

    out = Path(folder)
    tokenizer = build_tokenizer()
    for name, values in files.items():
        if name == PROCESSOR_FILE:
            continue
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_point_ids(values, tokenizer) if name == "config.json" else values, indent=2))
    generic_processor(tokenizer, files.get(PROCESSOR_FILE, {})).save_pretrained(out)
    return out


def generic_processor(tokenizer: Any, image: dict[str, Any]) -> Any:
    """``Qwen2_5_VLProcessor`` with the image processor's real numbers around ``tokenizer``."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from .tiny import CHAT_TEMPLATE

    values = dict(image)
    size = {"shortest_edge": values.pop("min_pixels", 3136), "longest_edge": values.pop("max_pixels", 12845056)}
    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(size=size, **values), tokenizer=tokenizer,
                               video_processor=Qwen2VLVideoProcessor(size=size, **values),
                               chat_template=CHAT_TEMPLATE)


def _point_ids(config: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    """``config`` with its special-token ids pointed at ``tokenizer``'s (the vocabulary width stays real)."""
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"),
        ("eos_token_id", "<|im_end|>"), ("pad_token_id", "<|endoftext|>"), ("bos_token_id", "<|endoftext|>"))}
    ids["vision_token_id"] = ids["image_token_id"]
    return {**config, **ids}
