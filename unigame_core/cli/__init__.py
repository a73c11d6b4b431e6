"""The ``unigame`` command line: one module per command, assembled in ``main``.

Importing the package decides the CPU thread count before anything imports torch (``unigame_core.threads``): on a
machine already busy, only the idle cores, so that waiting threads do not spin on cores other processes need.
"""

from .. import threads

threads.configure()
