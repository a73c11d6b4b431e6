"""Hook implementations: register, never work. No torch import here."""

from __future__ import annotations

from dataclasses import dataclass

from unigame_core.hookspecs import hookimpl
from unigame_core.registry import Registry


@dataclass
class ColourSuiteOptions:
    n: int = 16  # how many synthetic images to score
    size: int = 32


@hookimpl
def unigame_register_backends(backends: Registry) -> None:
    backends.alias(
        "example-janus",
        "janus",
        defaults={"backend": {"checkpoint": "example-org/Example-Janus"}, "train": {"batch_size": 4}},
        help="an example alias: the janus backend with another checkpoint and batch size",
    )


@hookimpl
def unigame_register_suites(suites: Registry) -> None:
    suites.add("example-colours", "unigame_example.suite:ColourSuite", config=ColourSuiteOptions,
               help="example suite: name the colour of a flat image")
