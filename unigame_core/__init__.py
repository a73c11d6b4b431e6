"""unigame core: the game engine, the plugin system and the command line.

The core never names a model: every backend, suite and validator is a plugin registered
through the ``unigame`` entry-point group (see ``unigame_core.hookspecs``).
"""

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402  (the marker plugin authors import)

__all__ = ["__version__", "hookimpl"]
