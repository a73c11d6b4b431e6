"""Registers the attack suites. Imports neither torch nor lm_eval (``unigame suites list`` stays fast)."""

from __future__ import annotations

from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry

from .options import DecoderAttackOptions, PixelAttackOptions


@hookimpl
def unigame_register_suites(suites: Registry) -> None:
    suites.add("attack-pgd", "unigame_robustness.suite:PixelAttackSuite", config=PixelAttackOptions,
               help="APGD-CE on pixels (L_inf 2/255, 4/255) against this model, on a VQA suite: clean vs robust")
    suites.add("attack-decoder", "unigame_robustness.suite:DecoderAttackSuite", config=DecoderAttackOptions,
               help="APGD on the shared tokens, decoded by the model's own decoder: clean, round trip, robust")
