"""Paths a user passes, resolved and checked before anything slow runs: ``--output`` (refused when nothing can be
written there) and ``--adapter`` (a run directory or the adapter folder itself); a full, read-only or forbidden
disk met while writing, as one sentence."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from .errors import ConfigError, DataError

# what a full, read-only or forbidden disk raises, and what to do about each
DISK_HINTS = {
    errno.ENOSPC: "Free some disk space",
    errno.EDQUOT: "Free some of your disk quota",
    errno.EROFS: "Remount it writable",
    errno.EACCES: "Fix its permissions",
    errno.EPERM: "Fix its permissions",
}
WRITE_ONLY_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # never raised by a read


def blocking_file(path: Path) -> Path | None:
    """``path``, or its nearest existing parent, when that is not a folder (nothing can be created there)."""
    if path.exists() and not path.is_dir():
        return path
    parent = next((p for p in path.parents if p.exists()), None)
    return parent if parent is not None and not parent.is_dir() else None


def check_output_folder(path: Path, flag: str = "--output") -> None:
    """A folder to create or write into: neither it nor a parent may be a file."""
    blocker = blocking_file(path)
    if blocker == path:
        raise ConfigError(f"{flag} '{path}' is an existing file, not a folder.", f"Pass another {flag} DIR.")
    if blocker is not None:
        raise ConfigError(f"Cannot create {flag} '{path}': '{blocker}' is a file.", f"Pass another {flag} DIR.")


def check_output_file(path: Path, flag: str = "--output") -> None:
    """A file to write: it may not be a folder, nor lie under a file."""
    if path.is_dir():
        raise ConfigError(f"{flag} '{path}' is a folder; it must name a file.", f"Pass {flag} FILE.")
    blocker = blocking_file(path.parent)
    if blocker is not None:
        raise ConfigError(f"Cannot write {flag} '{path}': '{blocker}' is a file.", f"Pass another {flag} FILE.")


def adapter_folder(path: str | Path) -> Path:
    """The PEFT adapter folder of ``path``: a run directory's ``adapter/``, else ``path`` itself."""
    folder = Path(path)
    return folder / "adapter" if (folder / "adapter" / "adapter_config.json").exists() else folder


def disk_errno(exc: BaseException) -> int | None:
    """The errno of a full, read-only or forbidden disk behind ``exc``, else None. safetensors raises its own
    error, which carries the errno only in its text (``... (os error 28)``)."""
    if isinstance(exc, OSError):
        code = exc.errno
    else:
        found = re.search(r"os error (\d+)", str(exc))
        code = int(found[1]) if found else None
    return code if code in DISK_HINTS else None


def failed_path(exc: BaseException) -> Path | None:
    """The file an OSError (or safetensors' error, ``... at path "X"``) names, if any."""
    if isinstance(exc, OSError):
        return Path(exc.filename) if isinstance(exc.filename, (str, os.PathLike)) else None
    found = re.search(r'at path "([^"]+)"', str(exc))
    return Path(found[1]) if found else None


def unwritable(folder: Path, exc: BaseException, what: str = "into the run directory",
               then: str = " or pass another --output DIR") -> DataError | None:
    """``exc`` as one sentence naming ``folder`` when a disk refused the write, else None (not ours to word);
    the hint is what to do about that disk, then ``then``."""
    code = disk_errno(exc)
    if code is None:
        return None
    return DataError(f"Cannot write {what} '{folder}': {os.strerror(code)}.", f"{DISK_HINTS[code]}{then}.")
