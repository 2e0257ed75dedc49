"""The provider-generic upload pipeline: expand paths, check, compare, store, record.

Every attempt is a history row. A stored backup is never replaced silently:
same name and same hash is "already uploaded", same name and other content is
an error unless `overwrite`. With a retention policy (`upload --prune`) an archive
the policy would delete as soon as it was stored is not uploaded: "outside retention".
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import errors
from .app import App
from .fsutil import blame, os_error
from .models import ArchiveReport, RemoteFile, UploadResult, is_archive_name
from .providers.base import SourceFile, Target
from .providers.local import LocalTarget, hash_file
from .prune import outside_retention
from .retention import Policy

OUTSIDE_RETENTION = "outside retention"

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """How the pipeline tells the outside world what it does (output.py implements it)."""

    def file_started(self, name: str, size: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def file_done(self, result: UploadResult) -> None: ...

    def warning(self, name: str, text: str) -> None: ...


class NullReporter:
    def file_started(self, name: str, size: int) -> None:
        return None

    def advance(self, nbytes: int) -> None:
        return None

    def file_done(self, result: UploadResult) -> None:
        return None

    def warning(self, name: str, text: str) -> None:
        return None


class GuardedReporter:
    """A reporter whose I/O failures (a closed stdout, a hung-up terminal) are logged and
    dropped: they are output problems, never the archive's, and must not stop a run."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    def file_started(self, name: str, size: int) -> None:
        with _output_errors_dropped():
            self.inner.file_started(name, size)

    def advance(self, nbytes: int) -> None:
        with _output_errors_dropped():
            self.inner.advance(nbytes)

    def file_done(self, result: UploadResult) -> None:
        with _output_errors_dropped():
            self.inner.file_done(result)

    def warning(self, name: str, text: str) -> None:
        with _output_errors_dropped():
            self.inner.warning(name, text)


@contextmanager
def _output_errors_dropped() -> Iterator[None]:
    try:
        yield
    except (OSError, ValueError):  # ValueError: a write to a closed stream
        log.debug("a progress report could not be shown", exc_info=True)


@dataclass(frozen=True)
class UploadOptions:
    overwrite: bool = False
    check: bool = True
    lock_timeout: float = 60.0
    mkdir: bool = False  # create a missing `local:DIR`
    # `upload --prune`: the policy the prune after the run applies, planned before uploading
    prune_policy: Policy | None = None
    strict: bool = False  # an archive of an unrecognised layout is refused, not uploaded


def expand_paths(paths: Sequence[Path], *, allow_any: bool = False) -> list[Path]:
    """Files as given; a directory means every backup archive directly in it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            try:
                archives = sorted(
                    p for p in path.iterdir() if p.is_file() and is_archive_name(p.name)
                )
            except OSError as exc:
                raise os_error(exc, "list", path) from None
            if not archives:
                raise errors.NoArchives(
                    f"no backup archives (*.tar.xz, *.tar.gz, *.tgz, *.zip) in {path}",
                    "point at Fermentrack's backup folder or at archive files",
                )
            found.extend(archives)
        elif path.is_file():
            if not allow_any and not is_archive_name(path.name):
                raise errors.NotAnArchive(
                    f"{path} is not a backup archive (expected .tar.xz, .tar.gz, .tgz or .zip)",
                    "pass Fermentrack backup archives, or --no-check to upload it anyway",
                )
            found.append(path)
        elif path.exists():
            raise errors.UsageError(f"{path} is not a regular file", "pass archive files")
        else:
            raise errors.NotFound(f"no such file or directory: {path}", "check the path")
    unique: dict[Path, None] = dict.fromkeys(p.absolute() for p in found)
    return list(unique)


def check_archive(path: Path) -> ArchiveReport:
    """Verify the archive; return the report, or raise when it is damaged.

    An unrecognised layout is not damage: the report says so (`layout`, `warnings`);
    `check_layout` decides what to do with it.
    """
    from .archive import verify_file

    report = verify_file(path)
    if not report.ok:
        problem = "; ".join(report.problems) or "unreadable"
        error = (
            errors.NotAnArchive if report.error_code == "not_an_archive" else errors.CorruptArchive
        )
        hint = (
            "it was not unpacked, to protect this machine; make a new backup in Fermentrack, "
            "or pass --no-check to upload it unchecked"
            if report.error_code == "exceeds_limits"
            else "the backup is damaged: make a new one in Fermentrack, or pass "
            "--no-check to upload it anyway"
        )
        raise error(
            f"{path.name}: {problem}; not uploaded",
            hint,
            code=report.error_code or error.code,
        )
    assert report.content_hash is not None
    return report


def check_layout(path: Path, report: ArchiveReport, *, strict: bool) -> tuple[str, ...]:
    """The warnings to show for a sound archive; under `strict`, an unrecognised layout
    raises UnknownLayout instead."""
    if strict and report.layout == "unknown":
        raise errors.UnknownLayout(
            f"{path.name}: not a Fermentrack backup layout this tool recognises; "
            "not uploaded (--strict)",
            "check that the folder holds Fermentrack's backups (`fermentrack-backup verify "
            "FILE` names the layout), or drop --strict to upload it with a warning",
        )
    return report.warnings


MAX_NAME_BYTES = 255
# Names Dropbox refuses to store (it ignores them when syncing, so the API rejects them).
_IGNORED_NAMES = frozenset({"desktop.ini", "thumbs.db", ".ds_store", ".dropbox", ".dropbox.attr"})


def check_remote_name(name: str) -> None:
    """Refuse names Dropbox would reject, before any byte is sent."""
    problem = None
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        problem = f"is longer than {MAX_NAME_BYTES} bytes"
    elif name.endswith((" ", ".")):
        problem = "ends with a space or a dot"
    elif any(ord(c) < 0x20 or c == "\x7f" for c in name) or "/" in name:
        problem = "contains control characters"
    elif name.lower() in _IGNORED_NAMES:
        problem = "is a name Dropbox does not store"
    if problem:
        raise errors.RemoteNameError(
            f"cannot store {name!r}: the name {problem}",
            "rename the archive (at most 255 bytes, no trailing dots or spaces)",
        )


def failed_result(path: Path, remote_path: str | None, exc: errors.BackupError) -> UploadResult:
    return UploadResult(
        str(path),
        remote_path,
        None,
        None,
        "failed",
        exc.message,
        error_code=exc.code,
        hint=exc.hint,
        exit_code=exc.exit_code,
    )


def record_failures(
    app: App, target_id: str | None, files: Sequence[Path], exc: errors.BackupError
) -> None:
    """A `failed` row for every file a run-wide error kept from being uploaded."""
    for path in files:
        record = app.history.start_upload(target_id, str(path), None, None)
        app.history.finish_upload(record, "failed", error_code=exc.code, error_message=exc.message)


class Uploader:
    def __init__(
        self, app: App, target: Target, target_id: str, options: UploadOptions, reporter: Reporter
    ) -> None:
        self.app = app
        self.target = target
        self.target_id = target_id
        self.options = options
        self.reporter = GuardedReporter(reporter)
        self.remote: dict[str, RemoteFile] = {}
        self.outside: set[str] = set()  # keys of archives outside the retention policy
        self._free: int | None = None
        self._space_known = False

    @property
    def is_local(self) -> bool:
        return self.target_id.startswith("local:")

    def _key(self, name: str) -> str:
        """Dropbox paths are case-insensitive; a local folder (ext4) is not."""
        return name if self.is_local else name.lower()

    def run(self, paths: Sequence[Path]) -> list[UploadResult]:
        files = expand_paths(paths, allow_any=not self.options.check)
        return self.run_files(files)

    def run_files(self, files: Sequence[Path]) -> list[UploadResult]:
        results: list[UploadResult] = []
        tried = 0  # files whose attempt has a history row of its own
        try:
            with self.app.lock(self.target_id, self.options.lock_timeout, self.target):
                # under the lock no other run is active here: leftovers are from a killed one
                self.app.history.fail_stale(self.target_id)
                if isinstance(self.target, LocalTarget):  # and temp files a killed copy left
                    self.target.remove_stale_temp_files()
                # listed once, under the lock, so a concurrent run's uploads are seen
                self.remote = {self._key(f.name): f for f in self.target.list_files()}
                self.outside = self._outside_retention(files)
                for path in files:
                    tried += 1
                    results.append(self.upload_one(path))
        except errors.BackupError as exc:
            if isinstance(exc, errors.NeedsRelink) and not self.is_local:
                self.app.history.update_connection(self.target_id, state="needs_relink")
            record_failures(self.app, self.target_id, files[tried:], exc)
            raise
        if not self.is_local:
            self.app.history.touch_connection(self.target_id)
        return results

    def _outside_retention(self, files: Sequence[Path]) -> set[str]:
        """Keys of the archives not stored yet that the `--prune` policy, planned over what
        is stored plus what is about to be, would delete at once: uploading them would
        only churn (uploaded tonight, deleted tonight, uploaded again tomorrow)."""
        policy = self.options.prune_policy
        if policy is None or policy.is_empty():
            return set()
        incoming: dict[str, RemoteFile] = {}
        for path in files:
            key = self._key(path.name)
            if key in self.remote or key in incoming:
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue  # it fails on its own when its turn comes
            incoming[key] = RemoteFile(path.name, self.target.remote_path(path.name), size, None)
        names = outside_retention(
            self.app,
            self.target,
            self.target_id,
            list(self.remote.values()),
            list(incoming.values()),
            policy,
        )
        return {self._key(name) for name in names}

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
                f"need {need} bytes, {self._free} free",
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
        history = self.app.history
        started = time.monotonic()
        remote_path = self.target.remote_path(path.name)
        self.record = history.start_upload(self.target_id, str(path), remote_path, None)
        try:
            return self._upload(path, started)
        except errors.BackupError as exc:
            record = history.finish_upload(
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
            self.reporter.file_done(result)
            if isinstance(exc, errors.Locked | errors.AuthError | errors.MaxDurationExceeded):
                raise  # nothing else can succeed either (the time budget is gone too)
            return result
        except KeyboardInterrupt:
            history.finish_upload(
                self.record, "failed", error_code="cancelled", error_message="interrupted"
            )
            raise
        except BaseException as exc:
            history.finish_upload(
                self.record, "failed", error_code="unexpected", error_message=type(exc).__name__
            )
            raise

    def _outside(self, path: Path, started: float) -> UploadResult:
        size = path.stat().st_size
        # no remote path: nothing is stored, so `remote ls` never counts it as known
        self.app.history.finish_upload(
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
        self.app.history.finish_upload(self.record, "skipped", content_hash=local_hash)
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
        history = self.app.history
        with blame("read", path):
            vanished = not path.is_file()  # since the folder was listed
        if vanished:
            raise errors.NotFound(f"{path} vanished before it was uploaded", "check the path")
        if not os.access(path, os.R_OK):
            raise errors.PermissionDenied(f"cannot read {path}", "check the file's permissions")
        if self._key(path.name) in self.outside:
            return self._outside(path, started)
        if not self.is_local:
            check_remote_name(path.name)
        existing = self.remote.get(self._key(path.name))
        local_hash = None
        if existing is not None:
            # Hash only (no decompression): a nightly run over a folder of stored archives
            # must not unpack every one of them on a Pi. They were checked when uploaded.
            with blame("read", path):
                size, local_hash = hash_file(path)
            self.record = history.finish_upload(
                self.record, "pending", size=size, content_hash=local_hash
            )
            if self._same_content(existing, local_hash):
                return self._skipped(path, existing, size, local_hash, started)
            if not self.options.overwrite:
                raise errors.RemoteConflict(
                    f"{existing.path} already exists with different content",
                    "pass --overwrite to replace it (the stored copy will be lost)",
                )
        if self.options.check:
            with blame("read", path):
                report = check_archive(path)
            warnings = check_layout(path, report, strict=self.options.strict)
            checked = report.content_hash
            if local_hash not in (None, checked):
                raise errors.SourceChanged(
                    f"{path} changed while it was being checked; nothing was stored",
                    "wait until Fermentrack has finished writing the backup, then run again",
                )
            local_hash = checked
            for warning in warnings:
                self.reporter.warning(path.name, warning)
        with blame("read", path):
            source = SourceFile.from_path(path, local_hash)
        record = self.record = history.finish_upload(
            self.record, "pending", size=source.size, content_hash=local_hash
        )
        self._check_space(source, existing)
        record = self.record = history.finish_upload(record, "uploading", content_hash=local_hash)
        self.reporter.file_started(path.name, source.size)
        with blame("read", path):  # what a target lets through is from reading the source
            stored = self.target.upload(
                source, overwrite=self.options.overwrite, progress=self.reporter.advance
            )
        history.finish_upload(
            record,
            "completed",
            size=stored.file.size,
            content_hash=stored.file.content_hash,
            remote_path=stored.file.path,
            resumed_from=stored.resumed_from,
        )
        self.remote[self._key(path.name)] = stored.file
        message = f"resumed at {stored.resumed_from} bytes" if stored.resumed_from else "uploaded"
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
    app: App, paths: Sequence[Path], to: str | None, options: UploadOptions, reporter: Reporter
) -> list[UploadResult]:
    files = expand_paths(paths, allow_any=not options.check)
    try:
        target, target_id = app.target_for(to, mkdir=options.mkdir)
    except (errors.AuthError, errors.ProviderDisabled, errors.NotFound) as exc:
        if isinstance(exc, errors.NotFound) and exc.code not in _TARGET_GONE:
            raise  # `--to` names nothing: no target to record failures for
        # not linked, needs re-link, provider disabled, drive not mounted:
        # every file gets its failed row
        conn_id = _connection_id(app, to)
        if isinstance(exc, errors.NeedsRelink) and conn_id is not None:
            app.history.update_connection(conn_id, state="needs_relink")
        record_failures(app, conn_id, files, exc)
        raise
    return Uploader(app, target, target_id, options, reporter).run_files(files)


_TARGET_GONE = ("target_missing", "target_not_mounted")


def _connection_id(app: App, ref: str | None) -> str | None:
    if ref is not None and ref.startswith("local:"):  # as Uploader records `local:DIR`
        return "local:" + str(Path(ref.removeprefix("local:")).expanduser().absolute())
    try:
        return app.resolve(ref).id
    except errors.BackupError:
        return None
