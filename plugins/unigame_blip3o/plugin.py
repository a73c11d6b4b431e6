"""Registers the BLIP3-o backend and its model aliases. Imports neither torch nor transformers.

What every BLIP3-o model needs (``hardness_reference``) is in ``configs/models/blip3o.yaml``, each
alias's checkpoint in ``configs/models/<alias>.yaml``.
"""

from __future__ import annotations

from unigame_core.config_files import shipped
from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .settings import Blip3oSettings


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.add("blip3o", "unigame_blip3o.backend:Blip3oBackend", config=Blip3oSettings,
                 model_types=("blip3o_qwen", "blip3o_qwen_inference"), file=shipped("models/blip3o.yaml"),
                 help="BLIP3-o (native Qwen2.5-VL + diffusers): EVA-CLIP features decoded by a diffusion decoder")
    backends.alias("blip3o-8b", "blip3o", file=shipped("models/blip3o-8b.yaml"),
                   help="BLIP3-o 8B: Qwen2.5-VL-7B understander, 1.4B DiT, SDXL-layout decoder, 1024 px")
    backends.alias("blip3o-4b", "blip3o", file=shipped("models/blip3o-4b.yaml"),
                   help="BLIP3-o 4B: Qwen2.5-VL-3B understander, same generator and decoder")
