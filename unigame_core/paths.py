"""Paths a user passes, resolved and checked before anything slow runs: ``--output`` (refused when nothing can be
written there), ``--adapter`` (a run directory or the adapter folder itself), files to read (refused, before
they are opened, when they are not regular files: opening a FIFO blocks until something writes to it), the
image paths an evaluation data file names (kept inside its data folder unless the user allows otherwise), and a
full, read-only or forbidden disk met while writing, as one sentence."""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigError, DataError, UnigameError

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_kind(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is when it exists but is not a regular file (``"a named pipe (FIFO)"``...), else None.

    Links are followed (``os.stat``); the file is never opened."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, unreadable, a NUL in the name: the caller's open says so
        return None
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "a special file")


def check_regular(path: str | os.PathLike[str], what: str, error: type[UnigameError] = DataError) -> None:
    """Refuse ``path`` (``what``: "Image", "Config file"...) with one sentence when it exists and is not a regular
    file: a FIFO, a device, a socket or a folder. Call before opening it."""
    kind = special_kind(path)
    if kind is not None:
        raise error(f"{what} '{path}' is {kind}, not a regular file.")


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


#: set (to anything but "" or "0") to let evaluation data files name images outside their data folder
ALLOW_OUTSIDE_DATA_ROOT = "UNIGAME_ALLOW_OUTSIDE_DATA_ROOT"


@contextmanager
def outside_data_root_allowed(allow: bool) -> Iterator[None]:
    """Within the block, :func:`data_file` accepts paths outside the data folder when ``allow`` (``unigame eval
    --allow-outside-data-root``); with ``allow`` False the environment variable decides, as outside the block."""
    before = os.environ.get(ALLOW_OUTSIDE_DATA_ROOT)
    if allow:
        os.environ[ALLOW_OUTSIDE_DATA_ROOT] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ALLOW_OUTSIDE_DATA_ROOT, None)
        else:
            os.environ[ALLOW_OUTSIDE_DATA_ROOT] = before


def data_file(root: str | os.PathLike[str], name: str | os.PathLike[str], where: str,
              base: str | os.PathLike[str] | None = None) -> Path:
    """The file a data file names (``name``, relative to ``base``, default ``root``), refused with one sentence
    when it leaves the data folder ``root``: an absolute path elsewhere, or ``..`` climbing out of it.

    The test is on the path as written (normalised, links not followed): a symbolic link the user put inside
    the folder (a shared COCO ``val2014/``) is theirs to make; a path a downloaded file names is not.
    ``where`` names the data file (and line or row) for the message."""
    folder = Path(os.path.abspath(root))
    path = Path(os.path.normpath(Path(base if base is not None else folder) / name))
    if path.is_relative_to(folder) or os.environ.get(ALLOW_OUTSIDE_DATA_ROOT, "") not in ("", "0"):
        return path
    raise DataError(f"{where} names the image '{name}', outside the data folder '{root}'.",
                    "Move the image under that folder, or pass --allow-outside-data-root (unigame eval) or set "
                    f"{ALLOW_OUTSIDE_DATA_ROOT}=1 if you trust the data.")


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
