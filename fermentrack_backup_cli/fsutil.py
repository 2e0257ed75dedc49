"""Atomic file writes, safe temp files and the cross-process lock.

Every file the tool writes goes through `atomic_write` (temp file beside the
target, fsync, rename, fsync the directory) so a power cut leaves either the old
file or the new one, never half of each.

Every temp or partial file is created by `create_temp` or `create_new`:
O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, so a name someone planted (a symlink to a
victim file, say) is never followed or written through. Temp names are
`.fbk-<16 hex of sha256(name)>-<random>.<suffix>`: short whatever the target's
name (NAME_MAX is 255 bytes), and recognisable, so a later run can remove the
ones a killed run left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

from . import errors
from .retry import Wait, WaitCallback


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems (FAT on a USB stick) refuse
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_PREFIX = ".fbk-"
TEMP_NAME = re.compile(r"^\.fbk-[0-9a-f]{16}-[0-9a-f]{16}\.(part|tmp)$")
"""The names `create_temp` makes (a resumable download partial has no random part)."""


def name_digest(name: str) -> str:
    """16 hex digits naming `name` in temp file names, whatever its length."""
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def create_new(path: Path, mode: int = 0o600) -> int:
    """Create `path` for writing; fail (FileExistsError) if anything, even a
    dangling symlink, already has that name. Returns the fd."""
    return os.open(path, NEW_FILE_FLAGS, mode)


def create_temp(directory: Path, name: str, suffix: str = ".part") -> tuple[int, Path]:
    """A new private temp file in `directory` for a file to be called `name`."""
    for _ in range(100):
        tmp = directory / f"{TEMP_PREFIX}{name_digest(name)}-{secrets.token_hex(8)}{suffix}"
        try:
            return create_new(tmp), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(directory))


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@contextlib.contextmanager
def blame(what: str, path: Path | str) -> Iterator[None]:
    """Turn an OSError raised inside into the user-facing error naming `path`."""
    try:
        yield
    except OSError as exc:
        raise os_error(exc, what, path) from None


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o600, *, binary: bool = True) -> Iterator[IO[bytes]]:
    """Yield a temp file beside `path`; on success it replaces `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = create_temp(path.parent, path.name, ".tmp")
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
    if exc.errno == errno.ENAMETOOLONG:
        return errors.UsageError(
            f"cannot {what} {path}: the name is too long for the filesystem",
            "use shorter names: at most 255 bytes per file or folder name, 4096 per path",
            code="name_too_long",
        )
    if exc.errno == errno.ENOTDIR:
        return errors.TargetError(
            f"cannot {what} {path}: a part of the path is a file, not a folder",
            "move that file away, or choose another folder",
            code="not_a_directory",
        )
    return errors.TargetError(
        f"cannot {what} {path}: {exc.strerror or exc}",
        "check the path, its permissions and the drive it is on, then run again",
    )


class FileLock:
    """An flock(2)-based lock that waits at most `timeout` seconds.

    flock is released by the kernel when the process dies, so a SIGKILLed run
    never leaves a stale lock behind. The holder writes who it is into the file (JSON:
    pid, the connection's label, the command, when it started), so a run that has to
    wait can say for whom, and a run that gives up can name it.
    """

    def __init__(
        self,
        path: Path,
        timeout: float,
        what: str,
        *,
        label: str | None = None,
        on_wait: WaitCallback | None = None,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.what = what
        self.label = label
        self.on_wait = on_wait
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_NOFOLLOW: a symlink planted in the lock folder is never written through
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.timeout
        waiting: Wait | None = None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    holder = lock_holder(fd)
                    if left <= 0:
                        os.close(fd)
                        raise self._locked(holder) from None
                    waiting = self._report(waiting, holder, left)
                    time.sleep(min(0.2, left))
        finally:
            if waiting is not None and self.on_wait is not None:
                self.on_wait(replace(waiting, remaining=0.0, ended=True))
        record = {
            "pid": os.getpid(),
            "label": self.label,
            "command": " ".join(sys.argv[1:2]) or None,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(record) + "\n").encode())
        self._fd = fd
        return self

    def _report(self, waiting: Wait | None, holder: str, left: float) -> Wait | None:
        """Show the wait: first when it starts, then about once a second."""
        if self.on_wait is None:
            return None
        if waiting is None:
            waiting = Wait(f"waiting for the run holding the lock ({holder})", self.timeout)
            self.on_wait(waiting)
        elif (waiting.remaining or waiting.delay) - left >= 1:
            waiting = replace(waiting, remaining=left)
            self.on_wait(waiting)
        return waiting

    def _locked(self, holder: str) -> errors.Locked:
        return errors.Locked(
            f"another fermentrack-backup run ({holder}) holds the lock for {self.what}",
            f"wait for it to finish, then run again (this run waited {self.timeout:g} s; "
            "`upload --lock-timeout SECONDS` waits longer)",
        )

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(fd: int) -> str:
    """Who holds a lock, from its file: "nas, pid 1234" (an older run wrote only its pid)."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        return "pid unknown"
    try:
        record = json.loads(text)
    except ValueError:
        return f"pid {text}" if text.isdigit() else "pid unknown"
    if not isinstance(record, dict):
        return "pid unknown"
    pid = record.get("pid")
    label = record.get("label")
    where = f"pid {pid}" if isinstance(pid, int) else "pid unknown"
    return f"{label}, {where}" if isinstance(label, str) and label else where
