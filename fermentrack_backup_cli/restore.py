"""Download (restore) a stored backup: `.part` beside the destination, hash checked,
fsynced and renamed into place; an interrupted download resumes with a Range request."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import errors
from .app import App
from .contenthash import ContentHasher
from .fsutil import fsync_dir, os_error
from .models import RemoteFile
from .providers.base import Target
from .remote import CHUNK, NullWatcher, Watcher, retrying


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


def _hash_prefix(part: Path, size: int) -> ContentHasher:
    """Hash the bytes an earlier run left in `part` (read once); start over when the
    partial is longer than the stored file."""
    hasher = ContentHasher()
    if part.stat().st_size > size:
        part.unlink()
        return hasher
    with part.open("rb") as handle:
        while block := handle.read(CHUNK):
            hasher.update(block)
    return hasher


def _fetch(
    target: Target, meta: RemoteFile, part: Path, hasher: ContentHasher, watcher: Watcher
) -> None:
    """Append the stored bytes from `hasher.size` on to `part`, feeding `hasher`."""
    watcher.started(meta.name, meta.size, hasher.size)
    try:
        if hasher.size >= meta.size:
            return  # the partial is complete: nothing to request (a Range would be 416)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        with os.fdopen(os.open(part, flags, 0o600), "ab") as out:
            try:
                with target.open_read(meta.name, hasher.size) as stream:
                    while block := stream.read(CHUNK):
                        out.write(block)
                        hasher.update(block)
                        watcher.advance(len(block))
            finally:  # keep what arrived durable, so a later run can resume from it
                out.flush()
                os.fsync(out.fileno())
    finally:
        watcher.finished()


def _place(part: Path, dest: Path, force: bool) -> None:
    if force:
        part.replace(dest)
    else:
        try:
            os.link(part, dest)  # never replaces: a file that appeared meanwhile is kept
            part.unlink()
        except FileExistsError:
            raise _exists_error(dest) from None
        except OSError:  # filesystems without hard links
            if dest.exists():
                raise _exists_error(dest) from None
            part.replace(dest)
    fsync_dir(dest.parent)


def _download_to(
    target: Target, meta: RemoteFile, part: Path, watcher: Watcher
) -> tuple[ContentHasher, int | None]:
    """Fill `part` with the stored bytes and check them; returns the hasher and the
    offset resumed from. A resumed partial that does not match is retried from zero."""
    while True:
        hasher = _hash_prefix(part, meta.size) if part.exists() else ContentHasher()
        resumed = hasher.size or None

        def attempt(hasher: ContentHasher = hasher) -> None:
            _fetch(target, meta, part, hasher, watcher)

        retrying(meta.name, attempt)
        matches = hasher.size == meta.size and meta.content_hash in (None, hasher.hexdigest())
        if matches:
            return hasher, resumed
        part.unlink(missing_ok=True)  # never leave bytes that failed the check
        if resumed is None:
            raise errors.ContentHashMismatch(
                f"the downloaded copy of {meta.name} does not match the stored content hash "
                f"({hasher.size} of {meta.size} bytes); nothing was saved",
                "run again; if it keeps failing, check the stored copy with "
                f"`fermentrack-backup verify --remote {meta.name}`",
            )


def download(
    app: App,
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
    target, _ = app.target_for(to)
    meta = target.stat(name)
    if meta is None:
        raise errors.NotFound(
            f"no stored backup named {name} in {target.description}",
            "list them with `fermentrack-backup remote ls`",
        )
    dest = output.expanduser().absolute() / name
    if dest.exists() and not force:
        raise _exists_error(dest)
    part = dest.parent / f".{name}.part"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        hasher, resumed = _download_to(target, meta, part, watcher or NullWatcher())
        _place(part, dest, force)
        if meta.modified is not None:
            with contextlib.suppress(OSError):
                stamp = meta.modified.timestamp()
                os.utime(dest, (stamp, stamp))
    except OSError as exc:
        raise os_error(exc, "write", part) from None
    return DownloadResult(
        name,
        meta.path,
        str(dest),
        hasher.size,
        hasher.hexdigest(),
        resumed,
        time.monotonic() - started,
    )
