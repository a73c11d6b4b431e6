"""Registers the ``clip`` validator."""

from __future__ import annotations

from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .settings import ClipGateConfig


@hookimpl
def unigame_register_validators(validators: Registry) -> None:
    validators.add("clip", "unigame_clip.gate:ClipGate", config=ClipGateConfig,
                   help="open_clip cosine of adversarial vs clean image (and/or vs question+answer text)")
