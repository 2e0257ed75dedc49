"""The upload use case: check, compare, store, record, for any target.

Every attempt is a history row. A stored backup is never replaced silently:
same name and same hash is "already uploaded", same name and other content is
an error unless `overwrite`. With a retention policy (`upload --prune`) an archive
the policy would delete as soon as it was stored is not uploaded: "outside retention".
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import contenthash, errors
from ..contenthash import hash_file
from ..fsutil import blame
from ..models import RemoteFile, UploadResult
from ..providers.base import SourceFile
from ..retention import Policy
from ..store import Database
from ..units import human_size
from .fused import ArchiveCheck, check_archive
from .prune import outside_retention
from .reporting import GuardedReporter, Reporter
from .sources import expand_paths
from .targets import Opened, Targets

__all__ = ["Reporter", "UploadOptions", "Uploader", "upload"]

OUTSIDE_RETENTION = "outside retention"


@dataclass(frozen=True)
class UploadOptions:
    overwrite: bool = False
    check: bool = True
    lock_timeout: float = 60.0
    mkdir: bool = False  # create a missing `local:DIR`
    # `upload --prune`: the policy the prune after the run applies, planned before uploading
    prune_policy: Policy | None = None
    strict: bool = False  # an archive of an unrecognised layout is refused, not uploaded


class Uploader:
    """One upload run to one target (under its lock)."""

    def __init__(
        self,
        targets: Targets,
        db: Database,
        opened: Opened,
        options: UploadOptions,
        reporter: Reporter,
    ) -> None:
        self.targets = targets
        self.attempts = db.attempts
        self.connections = db.connections
        self.opened = opened
        self.target = opened.target
        self.target_id = opened.target_id
        self.caps = opened.target.capabilities
        if self.caps.hash_kind != contenthash.KIND:
            raise errors.UsageError(
                f"{self.target.description} reports {self.caps.hash_kind} hashes, which this "
                "tool cannot compute for a local file",
                "upgrade fermentrack-backup",
            )
        self.options = options
        self.reporter = GuardedReporter(reporter)
        self.remote: dict[str, RemoteFile] = {}
        self.pending: list[Path] = []  # archives not tried yet in this run
        self._plan: set[str] | None = None  # keys outside the retention policy (planned)
        self._free: int | None = None
        self._space_known = False

    def _key(self, name: str) -> str:
        """The name as the target compares names (its own case rules)."""
        return self.caps.key(name)

    def run_files(self, files: Sequence[Path]) -> list[UploadResult]:
        """Upload `files`; results in their order. Under a retention policy they are tried
        newest first, so whether an older archive is outside retention is decided once
        the newer ones are stored or have failed (a newer archive that fails must not
        keep a sound older one out)."""
        order = self._newest_first(files) if self._planning else list(files)
        results: dict[Path, UploadResult] = {}
        tried: list[Path] = []
        try:
            with self.targets.lock(self.opened, self.options.lock_timeout):
                # under the lock no other run is active here: leftovers are from a killed one
                self.attempts.fail_stale(self.target_id)
                self.target.begin_run()  # and a target's own (temp files a killed copy left)
                # listed once, under the lock, so a concurrent run's uploads are seen
                self.remote = {self._key(f.name): f for f in self.target.list_files()}
                self.pending = list(order)
                for path in order:
                    tried.append(path)  # from here on it has a history row of its own
                    result = self.upload_one(path)
                    results[path] = result
                    self.pending.remove(path)
                    if result.status == "failed":
                        self._plan = None  # plan again without it
        except errors.BackupError as exc:
            self.attempts.fail_all(self.target_id, [p for p in order if p not in tried], exc)
            raise
        if self.opened.connection is not None:
            self.connections.touch(self.target_id)
        return [results[path] for path in files if path in results]

    @property
    def _planning(self) -> bool:
        policy = self.options.prune_policy
        return policy is not None and not policy.is_empty()

    def _newest_first(self, files: Sequence[Path]) -> list[Path]:
        from ..retention import name_time

        def key(path: Path) -> tuple[bool, str, str]:
            when = name_time(path.name)
            return (when is not None, when.isoformat() if when else "", path.name)

        return sorted(files, key=key, reverse=True)

    def _outside_retention(self, path: Path) -> bool:
        """Whether the `--prune` policy, planned over what is stored plus the archives not
        tried yet, would delete this archive as soon as it was stored: uploading it would
        only churn (uploaded tonight, deleted tonight, uploaded again tomorrow). Archives
        that failed are not part of the plan: they will not be stored."""
        policy = self.options.prune_policy
        if policy is None or policy.is_empty():
            return False
        if self._plan is None:
            incoming: dict[str, RemoteFile] = {}
            for pending in self.pending:
                key = self._key(pending.name)
                if key in self.remote or key in incoming:
                    continue
                try:
                    size = pending.stat().st_size
                except OSError:
                    continue  # it fails on its own when its turn comes
                remote_path = self.target.remote_path(pending.name)
                incoming[key] = RemoteFile(pending.name, remote_path, size, None)
            names = outside_retention(
                self.attempts,
                self.opened,
                list(self.remote.values()),
                list(incoming.values()),
                policy,
            )
            self._plan = {self._key(name) for name in names}
        return self._key(path.name) in self._plan

    def _check_space(self, source: SourceFile, existing: RemoteFile | None) -> None:
        if not self._space_known:
            space = self.target.space()
            self._free = space.free if space is not None else None
            self._space_known = True
        if self._free is None:
            return
        need = source.size - (existing.size if existing is not None else 0)
        if need > self._free:
            raise errors.InsufficientSpace(
                f"not enough space at {self.target.description} for {source.name}: "
                f"need {human_size(need)}, {human_size(self._free)} free",
                "free some space (or run `fermentrack-backup prune`), then run again",
            )
        self._free -= max(0, need)

    def _same_content(self, existing: RemoteFile, local_hash: str) -> bool:
        remote_hash = existing.content_hash
        if remote_hash is None:
            stat = self.target.stat(existing.name)
            remote_hash = stat.content_hash if stat else None
        return remote_hash == local_hash

    def upload_one(self, path: Path) -> UploadResult:
        attempts = self.attempts
        started = time.monotonic()
        remote_path = self.target.remote_path(path.name)
        self.record = attempts.start(self.target_id, str(path), remote_path, None)
        try:
            return self._upload(path, started)
        except errors.BackupError as exc:
            record = attempts.finish(
                self.record, "failed", error_code=exc.code, error_message=exc.message
            )
            result = UploadResult(
                str(path),
                remote_path,
                record.size,
                record.content_hash,
                "failed",
                exc.message,
                duration_s=time.monotonic() - started,
                error_code=exc.code,
                hint=exc.hint,
                exit_code=exc.exit_code,
            )
            # nothing else can succeed either (the time budget is gone too): stop the run,
            # and the error boundary shows the error (once)
            fatal = isinstance(exc, errors.Locked | errors.AuthError | errors.MaxDurationExceeded)
            self.reporter.file_done(result, fatal=fatal)
            if fatal:
                raise
            return result
        except KeyboardInterrupt:
            attempts.finish(
                self.record, "failed", error_code="cancelled", error_message="interrupted"
            )
            raise
        except BaseException as exc:
            attempts.finish(
                self.record, "failed", error_code="unexpected", error_message=type(exc).__name__
            )
            raise

    def _outside(self, path: Path, started: float) -> UploadResult:
        size = path.stat().st_size
        # no remote path: nothing is stored, so `remote ls` never counts it as known
        self.attempts.finish(
            self.record, "skipped", size=size, remote_path=None, error_message=OUTSIDE_RETENTION
        )
        result = UploadResult(
            str(path),
            None,
            size,
            None,
            "skipped",
            OUTSIDE_RETENTION,
            duration_s=time.monotonic() - started,
        )
        self.reporter.file_done(result)
        return result

    def _skipped(
        self, path: Path, existing: RemoteFile, size: int, local_hash: str, started: float
    ) -> UploadResult:
        self.attempts.finish(self.record, "skipped", content_hash=local_hash)
        result = UploadResult(
            str(path),
            existing.path,
            size,
            local_hash,
            "skipped",
            "already uploaded",
            duration_s=time.monotonic() - started,
        )
        self.reporter.file_done(result)
        return result

    def _upload(self, path: Path, started: float) -> UploadResult:
        # OSErrors are the source's only where the source is read: a target raises
        # BackupErrors naming what failed at its end (a folder it cannot write, say)
        attempts = self.attempts
        with blame("read", path):
            vanished = not path.is_file()  # since the folder was listed
        if vanished:
            raise errors.NotFound(f"{path} vanished before it was uploaded", "check the path")
        if not os.access(path, os.R_OK):
            raise errors.PermissionDenied(f"cannot read {path}", "check the file's permissions")
        if self._outside_retention(path):
            return self._outside(path, started)
        self.caps.name_rules.check(path.name)
        existing = self.remote.get(self._key(path.name))
        local_hash = None
        if existing is not None:
            # Hash only (no decompression): a nightly run over a folder of stored archives
            # must not unpack every one of them on a Pi. They were checked when uploaded.
            with blame("read", path):
                size, local_hash = hash_file(path)
            self.record = attempts.finish(
                self.record, "pending", size=size, content_hash=local_hash
            )
            if self._same_content(existing, local_hash):
                return self._skipped(path, existing, size, local_hash, started)
            if not self.options.overwrite:
                raise errors.RemoteConflict(
                    f"{existing.path} already exists with different content",
                    "pass --overwrite to replace it (the stored copy will be lost)",
                )
        with blame("read", path):
            source = SourceFile.from_path(path, local_hash)
        record = self.record = attempts.finish(
            self.record, "pending", size=source.size, content_hash=local_hash
        )
        self._check_space(source, existing)
        record = self.record = attempts.finish(record, "uploading", content_hash=local_hash)
        self.reporter.file_started(path.name, source.size)
        # the check reads the bytes the upload reads: one pass (a damaged archive found
        # during the upload is not committed; the check's error says so, exit 5)
        check: ArchiveCheck | None = None
        try:
            with blame("read", path):  # what a target lets through is from reading the source
                check = check_archive(path) if self.options.check else None
                if check is not None:
                    check.strict = self.options.strict
                stored = self.target.upload(
                    source,
                    overwrite=self.options.overwrite,
                    progress=self.reporter.advance,
                    check=check,
                )
        finally:
            if check is not None:
                with contextlib.suppress(Exception):  # its own error is already raised
                    check.abort()
        for warning in check.warnings if check is not None else ():
            self.reporter.warning(path.name, warning)
        attempts.finish(
            record,
            "completed",
            size=stored.file.size,
            content_hash=stored.file.content_hash,
            remote_path=stored.file.path,
            resumed_from=stored.resumed_from,
        )
        self.remote[self._key(path.name)] = stored.file
        message = (
            f"resumed at {human_size(stored.resumed_from)}" if stored.resumed_from else "uploaded"
        )
        result = UploadResult(
            str(path),
            stored.file.path,
            stored.file.size,
            stored.file.content_hash,
            "completed",
            message,
            resumed_from=stored.resumed_from,
            duration_s=time.monotonic() - started,
        )
        self.reporter.file_done(result)
        return result


def upload(
    targets: Targets,
    db: Database,
    paths: Sequence[Path],
    to: str | None,
    options: UploadOptions,
    reporter: Reporter,
) -> list[UploadResult]:
    files = expand_paths(paths, allow_any=not options.check)
    try:
        opened = targets.open(to, mkdir=options.mkdir)
    except (errors.AuthError, errors.ProviderDisabled, errors.NotFound) as exc:
        if isinstance(exc, errors.NotFound) and exc.code not in _TARGET_GONE:
            raise  # `--to` names nothing: no target to record failures for
        # not linked, needs re-link, provider disabled, drive not mounted:
        # every file gets its failed row
        db.attempts.fail_all(targets.history_id(to), files, exc)
        raise
    return Uploader(targets, db, opened, options, reporter).run_files(files)


_TARGET_GONE = ("target_missing", "target_not_mounted")
