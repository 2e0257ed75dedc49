"""Use cases on stored backups: list and deep verify (download: `restore`, prune: `prune`).

Everything goes through the `Target` protocol, so the local-folder and the Dropbox
target behave alike. Nothing here prints: results are dataclasses for `cli/remote.py`
and `cli/verify_cmd.py`; byte progress goes to a `Watcher`.

* Deep verify streams the stored copy through `verify.verify_stream` and never writes
  it to disk, except for zip archives from a non-seekable source (a Dropbox download):
  zip keeps its directory at the end, so `verify_stream` spools those into a temporary
  file (in memory up to 64 MiB, then in the temp dir) that is gone when it returns.
* Downloads go to `.<name>.part` beside the destination, are hashed while written,
  checked against the stored content hash, fsynced and renamed into place. A `.part`
  left by an interrupted run is hashed once and continued with a Range request.
* Prune applies `retention.plan` (restic `forget` semantics) and records every
  deletion as a history row (action "delete").
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol, cast

from . import errors
from .app import App
from .fsutil import os_error
from .models import RemoteFile, is_archive_name, iso, parse_iso, utcnow
from .providers.base import Target
from .retention import backup_time, candidates

CHUNK = 1024 * 1024
ATTEMPTS = 3  # whole-stream attempts when the connection drops mid-body


class Watcher(Protocol):
    """Byte progress of one stream at a time (the CLI shows a bar on a terminal)."""

    def started(self, name: str, total: int, done: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def finished(self) -> None: ...


class NullWatcher:
    def started(self, name: str, total: int, done: int) -> None:
        return None

    def advance(self, nbytes: int) -> None:
        return None

    def finished(self) -> None:
        return None


def retrying(what: str, attempt: Any) -> Any:
    """Run `attempt()` again when the stream breaks mid-body (the open call is already
    retried by the provider; a broken body is not)."""
    for number in range(1, ATTEMPTS + 1):
        try:
            return attempt()
        except errors.Transient:
            if number == ATTEMPTS:
                raise
            time.sleep(0.5 * number)
    raise AssertionError(what)  # unreachable


# ---------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class StoredBackup:
    file: RemoteFile
    known: bool
    last_verified: datetime | None
    last_verified_ok: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.file.name,
            "path": self.file.path,
            "size": self.file.size,
            "modified": iso(self.file.modified),
            "time": iso(backup_time(self.file)),
            "content_hash": self.file.content_hash,
            "known": self.known,
            "last_verified": iso(self.last_verified),
            "last_verified_ok": self.last_verified_ok,
        }


def _uploaded_hashes(app: App, target_id: str) -> dict[str, str | None]:
    """Remote path (lower case) -> content hash of its newest successful upload."""
    found: dict[str, str | None] = {}
    for rec in app.history.uploads(connection_id=target_id, action="upload"):
        if rec.status in ("completed", "skipped") and rec.remote_path:
            found.setdefault(rec.remote_path.lower(), rec.content_hash)
    return found


def newest_first(files: Iterable[RemoteFile]) -> list[RemoteFile]:
    """Backup archives only, newest first (time from the name, else modified)."""
    backups = [f for f in files if is_archive_name(f.name)]
    return sorted(
        backups,
        key=lambda f: (backup_time(f) is not None, iso(backup_time(f)) or "", f.name),
        reverse=True,
    )


def stored_backups(app: App, target: Target, target_id: str) -> list[StoredBackup]:
    uploaded = _uploaded_hashes(app, target_id)
    hashes = app.history.known_hashes(target_id)
    checks = app.history.verifications(target_id)
    result = []
    for f in newest_first(target.list_files()):
        check = checks.get(f.path.lower())
        known = f.path.lower() in uploaded or (f.content_hash in hashes)
        result.append(
            StoredBackup(
                f,
                known,
                parse_iso(check["verified_at"]) if check else None,
                bool(check["ok"]) if check else None,
            )
        )
    return result


def list_backups(app: App, to: str | None) -> tuple[str, list[StoredBackup]]:
    """The stored backups at `to` (description of the target, newest first)."""
    target, target_id = app.target_for(to)
    return target.description, stored_backups(app, target, target_id)


# ---------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class RemoteCheck:
    """A deep verification of one stored copy."""

    name: str
    path: str
    ok: bool
    size: int | None = None
    format: str | None = None
    members: int = 0
    file_version: Any = None
    content_hash: str | None = None
    expected_hash: str | None = None
    hash_source: str | None = None  # metadata | history | None (nothing to compare)
    problems: tuple[str, ...] = ()
    error_code: str | None = None
    exit_code: int = 0
    verified_at: datetime = field(default_factory=utcnow)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "ok": self.ok,
            "size": self.size,
            "format": self.format,
            "members": self.members,
            "file_version": self.file_version,
            "content_hash": self.content_hash,
            "expected_hash": self.expected_hash,
            "hash_source": self.hash_source,
            "problems": list(self.problems),
            "error_code": self.error_code,
            "verified_at": iso(self.verified_at),
        }


class _Counting:
    """Passes reads (and seeks, for zip) through, reporting bytes to a Watcher."""

    def __init__(self, raw: BinaryIO, watcher: Watcher) -> None:
        self.raw = raw
        self.watcher = watcher

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.watcher.advance(len(data))
        return data

    def seekable(self) -> bool:
        return self.raw.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


def _check_one(
    target: Target, file: RemoteFile, expected: tuple[str | None, str | None], watcher: Watcher
) -> RemoteCheck:
    from .archive import verify_stream  # deferred: tarfile/lzma/zipfile

    def attempt() -> Any:
        watcher.started(file.name, file.size, 0)
        try:
            with target.open_read(file.name) as stream:
                counted = cast(BinaryIO, _Counting(stream, watcher))
                return verify_stream(counted, file.name, size=file.size)
        finally:
            watcher.finished()

    report = retrying(file.name, attempt)
    problems, code = list(report.problems), report.error_code
    expected_hash, source = expected
    if expected_hash is not None and report.content_hash != expected_hash:
        problems.append(f"content hash differs from the stored {source} hash")
        code = code or "verify_mismatch"
    ok = not problems
    return RemoteCheck(
        file.name,
        file.path,
        ok,
        report.size,
        report.format,
        report.members,
        report.file_version,
        report.content_hash,
        expected_hash,
        source,
        tuple(problems),
        code,
        0 if ok else errors.ExitCode.VERIFY,
    )


def select_files(
    files: Sequence[RemoteFile], names: Sequence[str], latest: int | None
) -> list[RemoteFile | str]:
    """The stored files to verify: by name, the newest `latest`, or all backups.
    A name that is not stored stays a str (reported as not found)."""
    if names:
        by_name = {f.name.lower(): f for f in files}
        return [by_name.get(n.lower(), n) for n in names]
    if latest is not None:  # the newest real backups: never an empty or far-future file
        return list(candidates(files)[:latest])
    return list(newest_first(files))


def verify_remote(
    app: App,
    to: str | None,
    names: Sequence[str] = (),
    *,
    latest: int | None = None,
    watcher: Watcher | None = None,
) -> list[RemoteCheck]:
    """Deep-verify stored copies (all backups when no names and no `latest`) and record
    each result in the history. Per-file errors (gone, network) become failed checks."""
    if latest is not None and latest < 1:
        raise errors.UsageError("--latest must be at least 1", "e.g. --latest 3")
    watcher = watcher or NullWatcher()
    target, target_id = app.target_for(to)
    files = list(target.list_files())
    wanted = select_files(files, names, latest)
    if not wanted:
        raise errors.NoArchives(
            f"no stored backups in {target.description}", "upload some with `upload`"
        )
    uploaded = _uploaded_hashes(app, target_id)
    checks = []
    for item in wanted:
        if isinstance(item, str):
            err = errors.NotFound(f"no stored backup named {item} in {target.description}")
            checks.append(_failed_check(item, target.remote_path(item), err))
            continue
        expected: tuple[str | None, str | None]
        if item.content_hash is not None:
            expected = (item.content_hash, "metadata")
        else:  # a local folder lists no hashes: compare with what was uploaded there
            recorded = uploaded.get(item.path.lower())
            expected = (recorded, "history" if recorded else None)
        try:
            check = _check_one(target, item, expected, watcher)
        except errors.BackupError as exc:
            checks.append(_failed_check(item.name, item.path, exc))
            continue
        except OSError as exc:
            checks.append(_failed_check(item.name, item.path, os_error(exc, "read", item.path)))
            continue
        message = "; ".join(check.problems) or "ok"
        app.history.record_verification(target_id, item.path, check.content_hash, check.ok, message)
        checks.append(check)
    return checks


def _failed_check(name: str, path: str, exc: errors.BackupError) -> RemoteCheck:
    return RemoteCheck(
        name, path, False, problems=(exc.message,), error_code=exc.code, exit_code=exc.exit_code
    )


def checks_exit_code(checks: Sequence[RemoteCheck]) -> int:
    """VERIFY when any stored copy is damaged; else the code of the first error; else 0."""
    codes = [c.exit_code for c in checks if not c.ok]
    if errors.ExitCode.VERIFY in codes:
        return errors.ExitCode.VERIFY
    return codes[0] if codes else 0
