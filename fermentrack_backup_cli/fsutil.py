"""Atomic file writes and the cross-process lock.

Every file the tool writes goes through `atomic_write` (temp file beside the
target, fsync, rename, fsync the directory) so a power cut leaves either the old
file or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from . import errors


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems (FAT on a USB stick) refuse
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o600, *, binary: bool = True) -> Iterator[IO[bytes]]:
    """Yield a temp file beside `path`; on success it replaces `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    with atomic_writer(path, mode) as handle:
        handle.write(data)


def os_error(exc: OSError, what: str, path: Path | str) -> errors.BackupError:
    """Turn an OSError into the user-facing error with a hint."""
    if exc.errno == errno.ENOSPC:
        return errors.InsufficientSpace(
            f"no space left on the device holding {path}",
            "free some space or choose another target folder",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return errors.PermissionDenied(
            f"permission denied: cannot {what} {path}",
            "check the folder's owner and permissions (and that the drive is not read-only)",
        )
    if exc.errno == errno.ENOENT:
        return errors.NotFound(f"no such file or directory: {path}", "check the path")
    return errors.TargetError(f"cannot {what} {path}: {exc.strerror or exc}", None)


class FileLock:
    """An flock(2)-based lock that waits at most `timeout` seconds.

    flock is released by the kernel when the process dies, so a SIGKILLed run
    never leaves a stale lock behind.
    """

    def __init__(self, path: Path, timeout: float, what: str) -> None:
        self.path = path
        self.timeout = timeout
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise errors.Locked(
                        f"another fermentrack-backup run holds the lock for {self.what}",
                        "wait for it to finish, or raise --lock-timeout",
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
