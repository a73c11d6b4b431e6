"""Registers the Emu3 backend and its model aliases. Imports neither torch nor transformers."""

from __future__ import annotations

from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .settings import EMU3_CHAT, EMU3_GEN, Emu3Settings

# Decode -> re-encode through a VQ is not idempotent: hardness is measured against the delta = 0 round trip.
GAME_DEFAULTS = {"hardness_reference": "round_trip"}
# At 512 px the full soft assignment is a (4096 x 32768) matrix per image: use the 16 nearest codes.
CHECKPOINT_DEFAULTS = {"soft_topk": 16}


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.add("emu3", "unigame_emu3.backend:Emu3Backend", config=Emu3Settings, model_types=("emu3",),
                 defaults={"backend": dict(CHECKPOINT_DEFAULTS), "game": dict(GAME_DEFAULTS)},  # see docs: Known limits
                 help="Emu3 (transformers' native classes): one MoVQ tokenizer for both branches")
    backends.alias("emu3-chat", "emu3",
                   defaults={"backend": {"checkpoint": EMU3_CHAT, **CHECKPOINT_DEFAULTS}, "game": dict(GAME_DEFAULTS)},
                   help="Emu3-Chat 8B: understanding; its MoVQ also serves as the decoder, 512 px")
    backends.alias("emu3-gen", "emu3",
                   defaults={"backend": {"checkpoint": EMU3_GEN, "text_to_image": True, **CHECKPOINT_DEFAULTS},
                             "game": dict(GAME_DEFAULTS)},
                   help="Emu3-Gen 8B: text-to-image (consistency suite), same MoVQ, 512 px")
