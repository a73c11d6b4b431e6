"""Registers the Janus backend and its model aliases. Imports neither torch nor transformers."""

from __future__ import annotations

from unigame_core.config_files import shipped
from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .settings import JanusSettings


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.add("janus", "unigame_janus.backend:JanusBackend", config=JanusSettings, model_types=("janus",),
                 help="Janus / Janus-Pro (transformers' native classes)")
    backends.alias("janus-pro-1b", "janus", file=shipped("models/janus-pro-1b.yaml"),
                   help="Janus-Pro 1B: SigLIP-L/16 + Llama 1.5B + VQ-16, 384 px")
    backends.alias("janus-pro-7b", "janus", file=shipped("models/janus-pro-7b.yaml"),
                   help="Janus-Pro 7B: SigLIP-L/16 + Llama 7B + VQ-16, 384 px (the paper's model)")
