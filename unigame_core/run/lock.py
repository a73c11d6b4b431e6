"""One process owns a run directory at a time: ``.unigame-lock`` in it names the owner (pid, host).

Two ``unigame train`` writing one directory would interleave their metric lines and prune each other's
checkpoints, so the second one stops with a sentence naming the first. The lock file is held with ``flock``
(the kernel releases it when its owner dies, however it dies, and two processes cannot take one file at
once); what it says decides whether a lock nobody holds is stale: its pid no longer alive on this host. A
lock of another host is never taken over (its pid cannot be checked here): its hint says which file to
delete once that run is gone. Where the filesystem has no ``flock``, the pid alone decides.
Writing the owner into the file is also the first write into the run directory: a full, read-only or
forbidden disk shows there, before any model loads.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)

LOCK_FILE = ".unigame-lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid alone decides
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str

    def alive(self) -> bool:
        """Whether the owner still runs (only checkable on this host; another host's owner counts as alive)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
        return True


class RunLock:
    """A held lock; ``release`` removes the file and lets go (idempotent)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if _same_file(self._fd, self.path):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None


def acquire(run_dir: Path) -> RunLock:
    """Take ``run_dir``'s lock (the folder must exist): a ConfigError naming the owner when another process
    holds it; a stale lock is taken over with a warning; an OSError when nothing can be written there."""
    path = run_dir / LOCK_FILE
    for _ in range(3):  # a lock file released (unlinked) between our open and our flock: open the new one
        fd = _open(path)
        try:
            held_elsewhere = not _flock(fd)
            owner = _read_owner(fd)
            if held_elsewhere or (owner is not None and owner != _me() and owner.alive()):
                raise _in_use(run_dir, path, owner)
            if not _same_file(fd, path):
                os.close(fd)
                continue
            if owner is not None and owner != _me():
                log.warning("taking over the lock of run directory %s from pid %d on %s, which is no longer running",
                            run_dir, owner.pid, owner.host)
        except BaseException:
            os.close(fd)
            raise
        held = RunLock(path, fd)
        try:
            _write_owner(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                         "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        except BaseException:
            held.release()  # the disk refused: no lock file left behind
            raise
        return held
    raise _in_use(run_dir, path, None)


def _me() -> Owner:
    return Owner(os.getpid(), socket.gethostname())


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _flock(fd: int) -> bool:
    """False when another process holds the lock; True when this one now does (or the filesystem has none)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # no flock on this filesystem (some network and FUSE mounts)
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return True
        raise
    return True


def _read_owner(fd: int) -> Owner | None:
    """The owner the file names; None for an empty or unreadable file (an owner killed before writing it)."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        data = json.loads(os.read(fd, 4096).decode())
        return Owner(int(data["pid"]), str(data["host"]))
    except (ValueError, KeyError, TypeError):
        return None


def _write_owner(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _in_use(run_dir: Path, path: Path, owner: Owner | None) -> ConfigError:
    who = f"pid {owner.pid} on {owner.host}" if owner is not None else "a process that is starting"
    if owner is not None and owner.host != socket.gethostname():
        hint = f"Pass another --output DIR; if that run is gone (a preempted job), delete '{path}'."
    else:
        hint = "Wait for it to end, or pass another --output DIR."
    return ConfigError(f"The run directory '{run_dir}' is in use by another unigame train ({who}).", hint)
