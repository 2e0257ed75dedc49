"""One file's upload job and the upload-session primitives it drives (`SessionAPI`).

`DropboxTarget` implements `SessionAPI`; the engine (`engine`, `concurrent`) drives a
`Job`: the source, its chunk size and parallelism, progress, and the `ResumeStore`
where acknowledged prefixes are recorded so a later run can continue the session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from ... import errors
from ...models import RemoteFile, ResumeRecord
from ...retry import RetryPolicy
from ..base import Check, NoResume, Progress, ResumeStore, SourceFile
from .chunks import BlockReader
from .transport import cut_every_connection

T = TypeVar("T")
SEQUENTIAL = "sequential"
CONCURRENT = "concurrent"
MAX_OFFSET_CORRECTIONS = 8  # incorrect_offset answers per file before giving up


class SessionAPI(Protocol):
    retry: RetryPolicy

    def remote_path(self, name: str) -> str: ...

    def stat(self, name: str) -> RemoteFile | None: ...

    def upload_small(
        self, data: bytes, name: str, content_hash: str, overwrite: bool
    ) -> RemoteFile: ...

    def session_start(
        self, data: bytes, content_hash: str | None, *, concurrent: bool, close: bool = False
    ) -> str: ...

    def session_append(
        self, session_id: str, offset: int, data: bytes, content_hash: str | None, *, close: bool
    ) -> None: ...

    def session_finish(
        self,
        session_id: str,
        offset: int,
        data: bytes,
        content_hash: str | None,
        name: str,
        overwrite: bool,
    ) -> RemoteFile: ...


# the engine --------------------------------------------------------------------------


@dataclass
class Job:
    api: SessionAPI
    source: SourceFile
    overwrite: bool
    progress: Progress
    chunk_size: int
    parallel: int = 1
    store: ResumeStore = field(default_factory=NoResume)
    check: Check | None = None  # fed every byte; its verdict comes before the commit
    reported: int = 0  # bytes reported to `progress` so far
    created: float = 0.0  # when the current session was started (time.time())
    # adaptive: memory budget in bytes; the first chunk is sent alone and timed, then
    # `parallel` is chosen by tuning.choose (None: keep `parallel` as given)
    auto_memory: int | None = None
    auto_chunk: bool = False  # adaptive: the choice may change `chunk_size` too
    parallel_used: int = 0  # what the adaptive choice picked (0: not tuned)

    @property
    def remote_path(self) -> str:
        return self.api.remote_path(self.source.name)

    def advance_to(self, offset: int) -> None:
        if offset > self.reported:
            self.progress(offset - self.reported)
            self.reported = offset

    def send(self, what: str, func: Callable[[], T]) -> T:
        """One data-carrying call: retried within the policy; a damaged body once more."""
        try:
            return self.api.retry.call(func, what)
        except errors.ContentHashMismatch:
            return self.api.retry.call(func, what)

    def commit(self, func: Callable[[], RemoteFile], local_hash: str) -> RemoteFile:
        """The finishing call. When its reply was lost after Dropbox committed, the retry
        finds the session gone: the file is accepted if it is exactly what was sent."""
        try:
            return self.send(f"committing {self.source.name}", func)
        except errors.SessionGone:
            stored = self.api.stat(self.source.name)
            if stored is None or (stored.size, stored.content_hash) != (
                self.source.size,
                local_hash,
            ):
                raise
            return stored

    def check_unchanged(self, fd: int) -> None:
        self.source.check_unchanged(fd)
        self.source.check_unchanged()  # by path too: vanished or replaced

    def record(self, session_id: str, kind: str, committed: int, reader: BlockReader) -> None:
        if not self.created:
            self.created = time.time()
        self.store.save(
            self.remote_path,
            ResumeRecord(
                session_id,
                kind,
                str(self.source.path),
                self.source.size,
                self.source.mtime_ns,
                committed,
                reader.prefix_digests(committed),
                self.created,
            ),
        )

    def before_commit(self, fd: int, reader: BlockReader) -> str:
        """Never commit a torn file: same size and mtime, and the checked hash if any."""
        self.check_unchanged(fd)
        local_hash = reader.file_hash()
        if self.source.content_hash not in (None, local_hash):
            raise errors.SourceChanged(
                f"{self.source.path} changed after it was checked; nothing was stored",
                "wait until Fermentrack has finished writing the backup, then run again",
            )
        if self.check is not None:
            try:
                self.check.finish()
            except BaseException:
                # a damaged archive: the session is abandoned (never finished) and not
                # resumed by a later run
                self.store.drop(self.remote_path)
                raise
        return local_hash

    @contextmanager
    def workers(self, count: int) -> Iterator[ThreadPoolExecutor]:
        """The threads that send this job's chunks, for the `with` block.

        A chunk that failed (a BackupError) lets the others end their tries. Ctrl-C or
        SIGTERM stops them at once: no more backoff, and a worker blocked on a stalled
        server is cut off (systemd gives a unit 90 s to stop; the interpreter would wait
        for the workers' read timeout)."""
        pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="upload")
        try:
            yield pool
        except errors.BackupError:
            pool.shutdown(cancel_futures=True)
            raise
        except BaseException:
            self.api.retry.stop.set()
            cut_every_connection()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    def sink(self) -> Callable[[memoryview], None] | None:
        """The check's feed; damage it finds mid-way abandons the session as `finish`
        would (not resumed by a later run)."""
        check = self.check
        if check is None:
            return None

        def feed(data: memoryview) -> None:
            try:
                check.feed(data)
            except errors.BackupError:
                self.store.drop(self.remote_path)
                raise

        return feed


def corrected(exc: errors.IncorrectOffset, job: Job, corrections: int) -> int:
    if corrections > MAX_OFFSET_CORRECTIONS or not 0 <= exc.correct_offset <= job.source.size:
        raise errors.BackupError(
            f"Dropbox keeps disagreeing about the upload offset of {job.source.name} "
            f"(it expects {exc.correct_offset})",
            "run again; the upload starts a new session if this one cannot continue",
            code="incorrect_offset",
        )
    return exc.correct_offset
