"""Where ``unigame eval`` caches generated answers: one SQLite file per (model, adapter, suite, data).

The file name is a hash of the resolved backend settings (plus size and mtime of a local checkpoint's
files), the adapter's files (size, mtime, and the content of ``adapter_config.json``), the suite, its
data location (plus size and mtime of the files at its top), and the installed unigame and backend
plugin versions. Inside, each answer is keyed by its request (prompt, generation settings, image
content or path + size + mtime), so a changed image or question is never served from the cache.

``UNIGAME_EVAL_CACHE`` picks the folder (default ``~/.cache/unigame/eval``); ``UNIGAME_EVAL_CACHE=off``
disables caching. ``unigame train``'s before/after scores are never cached (the weights change).

:class:`AnswerCache` stores each answer as JSON text in a plain SQLite table, never as a pickle: a cache
file is data that anyone with write access to the folder can craft, and unpickling it would run their
code. A row that does not hold a JSON string (a pickle blob, an earlier format) is a miss and is
overwritten by the fresh answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CACHE_ENV = "UNIGAME_EVAL_CACHE"
_OFF = ("off", "0", "false", "no", "none")
#: Part of every cache file's key: files written by an earlier format (pickles) are never opened.
CACHE_FORMAT = 2


def cache_dir() -> Path | None:
    """The cache folder, or None when ``UNIGAME_EVAL_CACHE=off``."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "unigame" / "eval"


def _stats(folder: Path, depth: int = 1) -> list[Any]:
    """``[name, size, mtime_ns]`` of the entries of ``folder`` (and below, ``depth`` levels), sorted."""
    if not folder.is_dir():
        return [str(folder), "missing" if not folder.exists() else _stat(folder)]
    rows: list[Any] = []
    for entry in sorted(folder.iterdir()):
        rows.append([entry.name, *_stat(entry)])
        if depth > 1 and entry.is_dir():
            rows.append(_stats(entry, depth - 1))
    return rows


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size if path.is_file() else 0, st.st_mtime_ns]


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def model_fingerprint(cfg: DictConfig) -> dict[str, Any]:
    """The resolved backend node, plus the files of a local checkpoint folder."""
    backend = OmegaConf.to_container(cfg.backend, resolve=True)
    checkpoint = Path(str(getattr(cfg.backend, "checkpoint", "") or "")).expanduser()
    files = _stats(checkpoint) if str(checkpoint) not in ("", ".") and checkpoint.is_dir() else []
    return {"backend": backend, "files": files, "unigame": _version("unigame")}


def adapter_fingerprint(adapter: str | Path | None) -> dict[str, Any] | None:
    """The adapter folder's files (and its config's content), or None without an adapter."""
    if adapter is None:
        return None
    folder = Path(adapter).expanduser()
    if (folder / "adapter" / "adapter_config.json").exists():
        folder = folder / "adapter"
    config = folder / "adapter_config.json"
    return {"path": str(folder.resolve()), "files": _stats(folder),
            "config": config.read_text() if config.exists() else ""}


def data_fingerprint(suite: str, location: str | Path | None) -> dict[str, Any]:
    """The suite and its data folder (top-level file sizes and mtimes; images are keyed per request)."""
    if location is None:
        return {"suite": suite, "location": None}
    folder = Path(location).expanduser()
    return {"suite": suite, "location": str(folder.resolve()), "files": _stats(folder)}


def cache_file(model: dict[str, Any], adapter: dict[str, Any] | None, data: dict[str, Any]) -> Path | None:
    """``<cache_dir>/<suite>-<hash>.sqlite`` for these fingerprints, or None when caching is off."""
    folder = cache_dir()
    if folder is None:
        return None
    key = json.dumps({"format": CACHE_FORMAT, "model": model, "adapter": adapter, "data": data},
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return folder / f"{data['suite']}-{digest}.sqlite"


class AnswerCache:
    """Generated answers by request key, as JSON strings in one SQLite table (see the module docstring).

    Writes are batched: call :meth:`commit` after a batch and :meth:`close` at the end.
    """

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> str | None:
        """The cached answer, or None when absent or not a JSON string (never unpickled, never executed)."""
        row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None or not isinstance(row[0], str):
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, str) else None

    def put(self, key: str, answer: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)", (key, json.dumps(answer)))

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()
