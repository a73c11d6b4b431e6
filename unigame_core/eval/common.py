"""What the bridge, the task functions of suite plugins and the runner share (no heavy imports)."""

from __future__ import annotations

import os

#: The answer the bridge gives for a request whose image cannot be read. Every task's
#: ``process_results`` scores it as wrong; the runner counts it as an unreadable image.
UNREADABLE = "<unigame:unreadable-image>"

#: Environment flags that keep ``datasets`` and the hub from touching the network.
OFFLINE_FLAGS = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


def enable_offline() -> None:
    """Set the hub/datasets offline flags unless the user set them (call before importing ``datasets``).

    ``datasets`` reads them once, at import. ``HF_HUB_OFFLINE=0 unigame eval ...`` still lets a
    checkpoint download; the evaluation data itself never comes from the network.
    """
    for flag in OFFLINE_FLAGS:
        os.environ.setdefault(flag, "1")
