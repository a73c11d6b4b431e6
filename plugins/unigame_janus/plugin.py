"""Registers the Janus backend and its model aliases. Imports neither torch nor transformers."""

from __future__ import annotations

from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .settings import JANUS_PRO_1B, JANUS_PRO_7B, JanusSettings


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.add("janus", "unigame_janus.backend:JanusBackend", config=JanusSettings, model_types=("janus",),
                  help="Janus / Janus-Pro (transformers' native classes)")
    backends.alias("janus-pro-1b", "janus", defaults={"backend": {"checkpoint": JANUS_PRO_1B}},
                   help="Janus-Pro 1B: SigLIP-L/16 + Llama 1.5B + VQ-16, 384 px")
    backends.alias("janus-pro-7b", "janus", defaults={"backend": {"checkpoint": JANUS_PRO_7B}},
                   help="Janus-Pro 7B: SigLIP-L/16 + Llama 7B + VQ-16, 384 px (the paper's model)")
