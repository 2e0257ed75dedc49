"""The deep-verify use case (`verify --remote`): stream stored copies back and check them.

Each stored copy is streamed through `archive.verify_stream` and never written to disk,
except a zip from a non-seekable source (a download): zip keeps its directory at the
end, so `verify_stream` spools it into a bounded temporary file that is gone when it
returns. The content hash is compared with the stored one (of the target's declared
kind), else with what the history recorded at upload. A broken body is retried by the
run's retry policy, within its deadline. Results are recorded for `remote ls`/`status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, cast

from .. import contenthash, errors
from ..fsutil import os_error
from ..models import RemoteFile, iso, utcnow
from ..providers.base import Target
from ..retention import candidates
from ..retry import RetryPolicy
from .progress import CountingReader, NullWatcher, Watcher
from .stored import newest_first
from .targets import Targets


@dataclass(frozen=True)
class RemoteCheck:
    """A deep verification of one stored copy."""

    name: str
    path: str
    ok: bool
    size: int | None = None
    format: str | None = None
    layout: str | None = None
    members: int = 0
    file_version: Any = None
    content_hash: str | None = None
    expected_hash: str | None = None
    hash_source: str | None = None  # metadata | history | None (nothing to compare)
    problems: tuple[str, ...] = ()
    error_code: str | None = None
    exit_code: int = 0
    verified_at: datetime = field(default_factory=utcnow)
    hint: str | None = None  # what to do, when the check could not be made (not damage)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "remote_path": self.path,
            "ok": self.ok,
            "size": self.size,
            "format": self.format,
            "layout": self.layout,
            "members": self.members,
            "file_version": self.file_version,
            "content_hash": self.content_hash,
            "expected_hash": self.expected_hash,
            "hash_source": self.hash_source,
            "problems": list(self.problems),
            "error_code": self.error_code,
            "verified_at": iso(self.verified_at),
        }


def _check_one(
    target: Target,
    file: RemoteFile,
    expected: tuple[str | None, str | None],
    watcher: Watcher,
    retry: RetryPolicy,
) -> RemoteCheck:
    from ..archive import verify_stream  # deferred: tarfile/lzma/zipfile

    def attempt() -> Any:
        watcher.started(file.name, file.size, 0)
        try:
            with target.open_read(file.name) as stream:
                counted = cast(BinaryIO, CountingReader(stream, watcher))
                report = verify_stream(counted, file.name, size=file.size)
        except BaseException:
            watcher.finished(complete=False)
            raise
        watcher.finished()
        return report

    report = retry.call(attempt, f"verifying {file.name}")
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
        report.layout,
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
    targets: Targets,
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
    opened = targets.open(to)
    target, target_id = opened.target, opened.target_id
    files = list(target.list_files())
    wanted = select_files(files, names, latest)
    if not wanted:
        raise errors.NoArchives(
            f"no stored backups in {target.description}", "upload some with `upload`"
        )
    uploaded = targets.db.attempts.uploaded_hashes(target_id)
    same_kind = target.capabilities.hash_kind == contenthash.KIND
    retry = targets.retry_policy()
    checks = []
    for item in wanted:
        if isinstance(item, str):
            err = errors.NotFound(
                f"no stored backup named {item} in {target.description}",
                "see the stored backups with `fermentrack-backup remote ls`",
            )
            checks.append(_failed_check(item, target.remote_path(item), err))
            continue
        expected: tuple[str | None, str | None]
        if item.content_hash is not None and same_kind:
            expected = (item.content_hash, "metadata")
        else:  # a local folder lists no hashes: compare with what was uploaded there
            recorded = uploaded.get(item.path.lower())
            expected = (recorded, "history" if recorded else None)
        try:
            check = _check_one(target, item, expected, watcher, retry)
        except errors.BackupError as exc:
            checks.append(_failed_check(item.name, item.path, exc))
            continue
        except OSError as exc:
            checks.append(_failed_check(item.name, item.path, os_error(exc, "read", item.path)))
            continue
        message = "; ".join(check.problems) or "ok"
        targets.db.verifications.record(target_id, item.path, check.content_hash, check.ok, message)
        checks.append(check)
    return checks


def _failed_check(name: str, path: str, exc: errors.BackupError) -> RemoteCheck:
    return RemoteCheck(
        name,
        path,
        False,
        problems=(exc.message,),
        error_code=exc.code,
        exit_code=exc.exit_code,
        hint=exc.hint,
    )


def checks_exit_code(checks: Sequence[RemoteCheck]) -> int:
    """VERIFY when any stored copy is damaged; else the code of the first error; else 0."""
    codes = [c.exit_code for c in checks if not c.ok]
    if errors.ExitCode.VERIFY in codes:
        return errors.ExitCode.VERIFY
    return codes[0] if codes else 0
