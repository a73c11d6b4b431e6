"""Fail fast, in one sentence, when a model must come from the hub and cannot.

Without this, an unreachable hub costs minutes: huggingface_hub retries every file with back-off
(measured: 100-230 s before transformers gives up) and its message ends up glued to ours. Backends
call :func:`resolve` before any ``from_pretrained``: a checkpoint already in the local cache is loaded
offline when the hub is unreachable; one that is not cached fails at once, naming the checkpoint and
how to provide it. Offline means ``HF_HUB_OFFLINE=1``, or a 2-second TCP connect to the hub's host
(``HF_ENDPOINT``, or the HTTPS proxy when one is set) failing; the probe's answer is kept for a minute.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from .errors import DataError

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 2.0
_TRUE = ("1", "true", "yes", "on")
_MEMO_S = 60.0
_probed: dict[tuple[str, int], tuple[float, bool]] = {}  # address -> (when, reachable)


@dataclass(frozen=True)
class HubAccess:
    """How to load one hub checkpoint: ``local_files_only`` when it must come from the local cache."""

    local_files_only: bool
    reason: str = ""  # why the hub is not used ("" when it is)


def offline_requested() -> bool:
    """``HF_HUB_OFFLINE`` (also set by ``--offline``) is on."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT


def _probe_address() -> tuple[str, int]:
    """The host a download would connect to first: the HTTPS proxy if set, else the hub endpoint."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or ""
    url = urlparse(proxy if proxy else endpoint())
    default_port = 443 if url.scheme == "https" else 80
    return url.hostname or "huggingface.co", url.port or default_port


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """One TCP connect to the hub (or the proxy) within ``timeout`` seconds; no request is sent."""
    address = _probe_address()
    when, reachable = _probed.get(address, (0.0, False))
    if time.monotonic() - when < _MEMO_S:
        return reachable
    try:
        with socket.create_connection(address, timeout=timeout):
            reachable = True
    except OSError as exc:  # DNS failure, refused, unreachable, timed out
        log.debug("hub probe %s:%d failed: %s", *address, exc)
        reachable = False
    _probed[address] = (time.monotonic(), reachable)
    return reachable


def cached_file(repo_id: str, filenames: tuple[str, ...] = ("config.json",), *, cache_dir: str | None = None,
                revision: str | None = None) -> str | None:
    """The local path of the first of ``filenames`` of ``repo_id`` already in the hub cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    for name in filenames:
        try:
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir, revision=revision)
        except (ValueError, OSError):  # not a valid repo id: from_pretrained reports it
            return None
        if isinstance(found, str):
            return found
    return None


def is_cached(repo_id: str, filenames: tuple[str, ...] = ("config.json",), *, cache_dir: str | None = None,
              revision: str | None = None) -> bool:
    """Whether any of ``filenames`` of ``repo_id`` is already in the local hub cache (no network)."""
    return cached_file(repo_id, filenames, cache_dir=cache_dir, revision=revision) is not None


def resolve(repo_id: str, what: str, *, cache_dir: str | None = None, revision: str | None = None,
            local_files_only: bool = False, filenames: tuple[str, ...] = ("config.json",),
            hint: str | None = None) -> HubAccess:
    """Decide how ``repo_id`` (a hub id, not a folder) is loaded, or raise ``DataError`` at once.

    ``what`` names it in the message (e.g. "Janus checkpoint"); ``hint`` replaces the default advice.
    """
    if repo_id.startswith(("/", ".", "~")) or repo_id.count("/") > 1:  # meant as a folder, and it is not there
        raise DataError(f"{what} folder '{repo_id}' does not exist.",
                        "Pass a folder saved with save_pretrained, or a hub id such as org/name.")
    cached = is_cached(repo_id, filenames, cache_dir=cache_dir, revision=revision)
    if local_files_only or offline_requested():
        reason = "local_files_only is set" if local_files_only else "HF_HUB_OFFLINE=1 (=0 lets it download)"
    elif hub_reachable():
        return HubAccess(False)
    else:
        reason = f"the model hub ({_probe_address()[0]}) cannot be reached"
    if cached:
        log.info("%s '%s': loading from the local cache (%s)", what, repo_id, reason)
        return HubAccess(True, reason)
    advice = hint or (f"Download it where there is network (`hf download {repo_id} --local-dir DIR`) and pass "
                      "--model DIR, or copy that machine's Hugging Face cache (HF_HOME) here.")
    raise DataError(f"{what} '{repo_id}' is not in the local cache and {reason}.", advice)
