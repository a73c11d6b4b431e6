"""Registers the Emu3 backend and its model aliases. Imports neither torch nor transformers.

What every Emu3 model needs (``soft_topk``, ``hardness_reference``) is in ``configs/models/emu3.yaml``,
each alias's checkpoint in ``configs/models/<alias>.yaml``.
"""

from __future__ import annotations

from unigame_core.config_files import shipped
from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .settings import Emu3Settings


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.add("emu3", "unigame_emu3.backend:Emu3Backend", config=Emu3Settings, model_types=("emu3",),
                 file=shipped("models/emu3.yaml"),
                 help="Emu3 (transformers' native classes): one MoVQ tokenizer for both branches")
    backends.alias("emu3-chat", "emu3", file=shipped("models/emu3-chat.yaml"),
                   help="Emu3-Chat 8B: understanding; its MoVQ also serves as the decoder, 512 px")
    backends.alias("emu3-gen", "emu3", file=shipped("models/emu3-gen.yaml"),
                   help="Emu3-Gen 8B: text-to-image (consistency suite), same MoVQ, 512 px")
