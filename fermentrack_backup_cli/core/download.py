"""The download use case (restore a stored backup): `.part` beside the destination, hash
checked, fsynced and renamed into place; an interrupted download resumes with a Range
request.

The partial is `.fbk-<hash of the name>.part` (short whatever the name), created
O_EXCL|O_NOFOLLOW, and reopened only if it is a regular file of ours with one link."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import bandwidth, contenthash, errors
from ..bandwidth import Limiter
from ..contenthash import ContentHasher
from ..fsutil import TEMP_PREFIX, blame, fsync_dir, name_digest, same_file
from ..models import RemoteFile
from ..providers.base import Target
from ..retry import RetryPolicy
from ..units import human_size
from .progress import NullWatcher, Watcher
from .targets import Targets

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class DownloadResult:
    name: str
    remote_path: str
    path: str
    size: int
    content_hash: str | None
    resumed_from: int | None
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "remote_path": self.remote_path,
            "path": self.path,
            "size": self.size,
            "content_hash": self.content_hash,
            "resumed_from": self.resumed_from,
            "duration_s": round(self.duration_s, 3),
            "status": "completed",
        }


def _plain_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise errors.UsageError(
            f"{name!r} is not a stored file name", "pass a name as `remote ls` shows it"
        )
    return name


def _exists_error(dest: Path) -> errors.BackupError:
    return errors.UsageError(
        f"{dest} already exists; not overwritten",
        "pass --force to replace it, or --output DIR to save elsewhere",
        code="destination_exists",
    )


def part_path(dest: Path) -> Path:
    """The resumable partial beside `dest`: the same name on every run, so the next run
    finds it, and short whatever the backup's name (NAME_MAX is 255 bytes)."""
    return dest.parent / f"{TEMP_PREFIX}{name_digest(dest.name)}.part"


_NEW_PART = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _unsafe_partial(part: Path, why: str) -> errors.BackupError:
    return errors.TargetError(
        f"{part} is {why}; refusing to follow or append to it, nothing was written",
        f"remove it and run again, and check who else can write to {part.parent}",
        code="unsafe_partial",
    )


def _open_partial(part: Path) -> int:
    """A read/write fd on the partial an earlier run left, or on a new one.

    An existing partial is used only if it is a regular file of ours with no other
    link, opened without following symlinks: whoever can write the output folder
    must not get us to append to (or rename) a file of their choosing."""
    try:
        st = os.lstat(part)
    except FileNotFoundError:
        return os.open(part, _NEW_PART, 0o600)
    if stat.S_ISLNK(st.st_mode):
        raise _unsafe_partial(part, "a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _unsafe_partial(part, "not a regular file")
    if st.st_uid != os.geteuid():
        raise _unsafe_partial(part, f"owned by another user (uid {st.st_uid})")
    if st.st_nlink != 1:
        raise _unsafe_partial(part, "a hard link to another file")
    fd = os.open(part, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not same_file(os.fstat(fd), st):
        os.close(fd)
        raise _unsafe_partial(part, "being replaced while it is opened")
    return fd


def _hold(fd: int, part: Path, name: str) -> None:
    """One download into a partial at a time: a second one would write the same bytes
    into the same file and fail when the first renames it away."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise errors.Locked(
            f"another download of {name} into {part.parent} is running",
            "wait for it to finish (then the file is there), or download into another folder",
            code="download_running",
        ) from None
    except OSError:  # no flock on this filesystem: as before, without the guard
        return


def _hash_prefix(fd: int, size: int) -> ContentHasher:
    """Hash the bytes an earlier run left in the partial (read once); start over when
    it is longer than the stored file."""
    hasher = ContentHasher()
    if os.fstat(fd).st_size > size:
        os.ftruncate(fd, 0)
        return hasher
    os.lseek(fd, 0, os.SEEK_SET)
    while block := os.read(fd, CHUNK):
        hasher.update(block)
    return hasher


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fetch(
    target: Target,
    meta: RemoteFile,
    fd: int,
    hasher: ContentHasher,
    watcher: Watcher,
    limiter: Limiter | None = None,
) -> None:
    """Write the stored bytes from `hasher.size` on into the partial, feeding `hasher`;
    read at the pace of the run's bandwidth limit (`limiter`), whatever the target."""
    watcher.started(meta.name, meta.size, hasher.size)
    try:
        if hasher.size >= meta.size:
            return  # the partial is complete: nothing to request (a Range would be 416)
        # what a failed attempt wrote past the hashed bytes (half a block) is dropped
        os.ftruncate(fd, hasher.size)
        os.lseek(fd, hasher.size, os.SEEK_SET)
        try:
            with target.open_read(meta.name, hasher.size) as stream:
                while True:
                    with blame("read", meta.path):
                        block = bandwidth.read(stream, CHUNK, limiter)
                    if not block:
                        break
                    _write_all(fd, block)
                    hasher.update(block)
                    watcher.advance(len(block))
        finally:  # keep what arrived durable, so a later run can resume from it
            os.fsync(fd)
    finally:
        watcher.finished(complete=hasher.size >= meta.size)


def _place(part: Path, fd: int, dest: Path, force: bool) -> None:
    if not same_file(os.lstat(part), os.fstat(fd)):
        raise _unsafe_partial(part, "no longer the file this download wrote")
    if force:
        part.replace(dest)
    else:
        try:
            os.link(part, dest)  # never replaces: a file that appeared meanwhile is kept
        except FileExistsError:
            raise _exists_error(dest) from None
        except OSError:  # filesystems without hard links
            if os.path.lexists(dest):
                raise _exists_error(dest) from None
            part.replace(dest)
        else:
            part.unlink()
    fsync_dir(dest.parent)


def _download_to(
    target: Target,
    meta: RemoteFile,
    part: Path,
    watcher: Watcher,
    retry: RetryPolicy,
    limiter: Limiter | None = None,
) -> tuple[int, ContentHasher, int | None]:
    """Fill the partial with the stored bytes and check them; returns its open fd, the
    hasher and the offset resumed from."""
    fd = _open_partial(part)
    try:
        _hold(fd, part, meta.name)
        hasher, resumed = _fill(target, meta, part, fd, watcher, retry, limiter)
    except BaseException:
        os.close(fd)
        raise
    return fd, hasher, resumed


def _fill(
    target: Target,
    meta: RemoteFile,
    part: Path,
    fd: int,
    watcher: Watcher,
    retry: RetryPolicy,
    limiter: Limiter | None,
) -> tuple[ContentHasher, int | None]:
    """A broken body is continued by the run's retry policy (within its deadline); a
    resumed partial that does not match is retried from zero."""
    expected = meta.content_hash if target.capabilities.hash_kind == contenthash.KIND else None
    while True:
        hasher = _hash_prefix(fd, meta.size)
        resumed = hasher.size or None

        def attempt(hasher: ContentHasher = hasher) -> None:
            _fetch(target, meta, fd, hasher, watcher, limiter)

        retry.call(attempt, f"downloading {meta.name}")
        matches = hasher.size == meta.size and expected in (None, hasher.hexdigest())
        if matches:
            return hasher, resumed
        os.ftruncate(fd, 0)  # never keep bytes that failed the check
        if resumed is None:
            part.unlink(missing_ok=True)
            raise errors.ContentHashMismatch(
                f"the downloaded copy of {meta.name} does not match the stored content hash "
                f"({human_size(hasher.size)} of {human_size(meta.size)}); nothing was saved",
                "run again; if it keeps failing, check the stored copy with "
                f"`fermentrack-backup verify --remote {meta.name}`",
            )


def download(
    targets: Targets,
    name: str,
    to: str | None,
    output: Path,
    *,
    force: bool = False,
    watcher: Watcher | None = None,
) -> DownloadResult:
    """Restore one stored backup into `output` (a folder, created if missing)."""
    started = time.monotonic()
    name = _plain_name(name)
    target = targets.open(to).target
    meta = target.stat(name)
    if meta is None:
        raise errors.NotFound(
            f"no stored backup named {name} in {target.description}",
            "list them with `fermentrack-backup remote ls`",
        )
    folder = output.expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise errors.UsageError(
            f"--output {folder} is a file, not a folder",
            f"-o names the folder to save {name} in: pass its folder, e.g. -o {folder.parent}",
            code="output_not_a_folder",
        )
    dest = folder / name
    if dest.exists() and not force:
        raise _exists_error(dest)
    part = part_path(dest)
    with blame("write", dest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, hasher, resumed = _download_to(
            target, meta, part, watcher or NullWatcher(), targets.retry_policy(), targets.limiter()
        )
        try:
            if meta.modified is not None:
                with contextlib.suppress(OSError):
                    stamp = meta.modified.timestamp()
                    os.utime(fd, (stamp, stamp))  # by fd: a path could be swapped
            _place(part, fd, dest, force)
        finally:
            os.close(fd)
    return DownloadResult(
        name,
        meta.path,
        str(dest),
        hasher.size,
        hasher.hexdigest(),
        resumed,
        time.monotonic() - started,
    )
