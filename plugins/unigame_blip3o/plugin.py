"""Registers the BLIP3-o backend and its model aliases. Imports neither torch nor transformers."""

from __future__ import annotations

from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .settings import BLIP3O_4B, BLIP3O_8B, Blip3oSettings

# A diffusion decode is a semantic, not a pixel-exact, round trip: hardness is measured against the delta = 0 decode.
GAME_DEFAULTS = {"hardness_reference": "round_trip"}


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.add("blip3o", "unigame_blip3o.backend:Blip3oBackend", config=Blip3oSettings,
                 model_types=("blip3o_qwen", "blip3o_qwen_inference"), defaults={"game": dict(GAME_DEFAULTS)},
                 help="BLIP3-o (native Qwen2.5-VL + diffusers): EVA-CLIP features decoded by a diffusion decoder")
    backends.alias("blip3o-8b", "blip3o", defaults={"backend": {"checkpoint": BLIP3O_8B}, "game": dict(GAME_DEFAULTS)},
                   help="BLIP3-o 8B: Qwen2.5-VL-7B understander, 1.4B DiT, SDXL-layout decoder, 1024 px")
    backends.alias("blip3o-4b", "blip3o", defaults={"backend": {"checkpoint": BLIP3O_4B}, "game": dict(GAME_DEFAULTS)},
                   help="BLIP3-o 4B: Qwen2.5-VL-3B understander, same generator and decoder")
