"""The Dropbox upload engine: chunk plan, one read and one hash per byte, bounded retries,
resume.

Driven by `DropboxTarget.upload` over `SessionAPI` (the target's upload-session
primitives); it gets plain values (chunk size, parallelism, the retry policy with the
run's deadline, a `ResumeStore`), never prints, never calls back into core, and never
imports the SDK itself. Bytes come from the file through `BlockReader`,
which reads each byte once and SHA-256-hashes each 4 MiB block once; every chunk's
content hash and the whole file's hash are derived from those block digests.

Two exceptions to "read once", both after the server disagreed with us: when the
server answers `incorrect_offset` with an offset we have not hashed yet (a resume
after a crash between its acknowledgement and our record), the gap is read to hash
it; when its offset is not on a 4 MiB boundary, the bytes of that one realigning
chunk are hashed a second time for the chunk's own content hash.

Small files (up to one chunk) go in one `files/upload`. Larger ones use a
sequential upload session (the first chunk rides on start, the last on finish) or,
with `parallel > 1`, a concurrent session whose chunks (multiples of 4 MiB) are
appended by a bounded pool of threads, at most `parallel` chunk buffers in memory.
As chunks are acknowledged, the session id, the acknowledged prefix and the block
digests of that prefix are recorded (`ResumeStore`), so a later run of the same
unchanged file continues the session instead of starting over.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from ... import errors
from ...contenthash import BLOCK_SIZE
from ...models import RemoteFile, ResumeRecord
from ...retry import RetryPolicy
from ..base import NoResume, Progress, ResumeStore, SourceFile, Stored
from .chunks import BlockReader, plan_chunks, span_end

T = TypeVar("T")
MIB = 1024 * 1024
SEQUENTIAL = "sequential"
CONCURRENT = "concurrent"
SESSION_LIFETIME_S = 7 * 24 * 3600 - 3600  # Dropbox keeps sessions 7 days; keep a margin
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
    reported: int = 0  # bytes reported to `progress` so far
    created: float = 0.0  # when the current session was started (time.time())

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
        return local_hash


def upload_file(job: Job) -> Stored:
    """Upload `job.source`; resume a recorded session of the same unchanged file."""
    with job.source.path.open("rb") as handle:
        fd = handle.fileno()
        job.check_unchanged(fd)
        if job.source.size <= job.chunk_size:
            reader = BlockReader(fd, job.source)
            return _verified(job, reader, _upload_small(job, fd, reader), None)
        resumed = _resume_point(job)
        if resumed is not None and not _prefix_unchanged(fd, resumed[0].digests):
            job.store.drop(job.remote_path)  # same size and mtime, other bytes (cp -p)
            resumed = None
        if resumed is not None:
            record, offset = resumed
            job.created = record.created
            reader = BlockReader(fd, job.source, record.digests)
            try:
                md = _run_session(job, fd, reader, record.session_id, record.kind, offset)
                return _verified(job, reader, md, offset)
            except errors.SessionGone:
                job.store.drop(job.remote_path)  # expired meanwhile: start over below
            except errors.SourceChanged:
                job.store.drop(job.remote_path)
                raise
        reader = BlockReader(fd, job.source)
        job.created = 0.0
        kind = CONCURRENT if job.parallel > 1 else SEQUENTIAL
        try:
            md = _run_session(job, fd, reader, None, kind, 0)
        except (errors.SourceChanged, errors.SessionGone):
            job.store.drop(job.remote_path)
            raise
        return _verified(job, reader, md, None)


def _prefix_unchanged(fd: int, digests: bytes) -> bool:
    """Whether the blocks the server already holds are still the file's first blocks.

    Size and mtime can survive a rewrite (`cp -p`, `rsync -t`); resuming onto the old
    bytes would commit a torn file. This reads the acknowledged prefix a second time,
    only when resuming.
    """
    size = hashlib.sha256().digest_size
    for index in range(len(digests) // size):
        block = os.pread(fd, BLOCK_SIZE, index * BLOCK_SIZE)
        if hashlib.sha256(block).digest() != digests[index * size : (index + 1) * size]:
            return False
    return True


def _verified(job: Job, reader: BlockReader, md: RemoteFile, resumed: int | None) -> Stored:
    job.store.drop(job.remote_path)
    local_hash = reader.file_hash()
    if md.size != job.source.size or md.content_hash != local_hash:
        raise errors.VerifyMismatch(
            f"Dropbox holds {md.size} bytes with content hash {md.content_hash} for "
            f"{md.path}, but {job.source.size} bytes with hash {local_hash} were sent",
            "the stored copy cannot be trusted; run the upload again with --overwrite",
        )
    job.advance_to(job.source.size)
    return Stored(md, resumed_from=resumed)


def _upload_small(job: Job, fd: int, reader: BlockReader) -> RemoteFile:
    data, chunk_hash = reader.payload(0, job.source.size)
    job.before_commit(fd, reader)
    return job.send(
        f"uploading {job.source.name}",
        lambda: job.api.upload_small(data, job.source.name, chunk_hash, job.overwrite),
    )


def _resume_point(job: Job) -> tuple[ResumeRecord, int] | None:
    """A recorded session of this unchanged file and the offset the server really holds."""
    record = job.store.load(job.remote_path)
    if record is None:
        return None
    too_old = time.time() - record.created > SESSION_LIFETIME_S
    if (
        too_old
        or not record.matches(str(job.source.path), job.source.size, job.source.mtime_ns)
        or record.committed > job.source.size
    ):
        job.store.drop(job.remote_path)
        return None
    offset = record.committed
    if record.kind == SEQUENTIAL:
        # A zero-length append at our offset: the server answers incorrect_offset with
        # the true one when it acknowledged more than we recorded before the crash.
        try:
            job.api.retry.call(
                lambda: job.api.session_append(
                    record.session_id, record.committed, b"", None, close=False
                ),
                "asking Dropbox where the upload stopped",
            )
        except errors.IncorrectOffset as exc:
            offset = exc.correct_offset
        except errors.SessionGone:
            job.store.drop(job.remote_path)
            return None
    if not 0 < offset <= job.source.size:
        job.store.drop(job.remote_path)
        return None
    return record, offset


def _run_session(
    job: Job, fd: int, reader: BlockReader, session_id: str | None, kind: str, offset: int
) -> RemoteFile:
    if kind == CONCURRENT:
        return _concurrent(job, fd, reader, session_id, offset)
    return _sequential(job, fd, reader, session_id, offset)


def _corrected(exc: errors.IncorrectOffset, job: Job, corrections: int) -> int:
    if corrections > MAX_OFFSET_CORRECTIONS or not 0 <= exc.correct_offset <= job.source.size:
        raise errors.BackupError(
            f"Dropbox keeps disagreeing about the upload offset of {job.source.name} "
            f"(it expects {exc.correct_offset})",
            "run again; the upload starts a new session if this one cannot continue",
            code="incorrect_offset",
        )
    return exc.correct_offset


def _sequential(
    job: Job, fd: int, reader: BlockReader, session_id: str | None, offset: int
) -> RemoteFile:
    api, size = job.api, job.source.size
    if session_id is None:
        end = span_end(0, size, job.chunk_size)
        data, chunk_hash = reader.payload(0, end)
        session_id = job.send(
            "starting an upload session",
            lambda: api.session_start(data, chunk_hash, concurrent=False),
        )
        offset = end
        job.record(session_id, SEQUENTIAL, offset, reader)
    sid = session_id
    job.advance_to(offset)
    corrections = 0
    while True:
        job.check_unchanged(fd)
        end = span_end(offset, size, job.chunk_size)
        data, chunk_hash = reader.payload(offset, end)
        digest = chunk_hash if data else None
        try:
            if end == size:
                local_hash = job.before_commit(fd, reader)
                return job.commit(
                    functools.partial(
                        api.session_finish,
                        sid,
                        offset,
                        data,
                        digest,
                        job.source.name,
                        job.overwrite,
                    ),
                    local_hash,
                )
            job.send(
                f"uploading {job.source.name} at {offset}",
                functools.partial(api.session_append, sid, offset, data, digest, close=False),
            )
        except errors.IncorrectOffset as exc:
            corrections += 1
            offset = _corrected(exc, job, corrections)
            continue
        offset = end
        job.record(sid, SEQUENTIAL, offset, reader)
        job.advance_to(offset)


def _concurrent(
    job: Job, fd: int, reader: BlockReader, session_id: str | None, offset: int
) -> RemoteFile:
    api, size = job.api, job.source.size
    if session_id is None:
        session_id = job.send(
            "starting an upload session", lambda: api.session_start(b"", None, concurrent=True)
        )
        job.record(session_id, CONCURRENT, 0, reader)
    sid = session_id
    job.advance_to(offset)
    window = _Window(job, reader, sid, offset)
    pool = ThreadPoolExecutor(max_workers=job.parallel, thread_name_prefix="upload")
    try:
        for start, end in plan_chunks(size, job.chunk_size, offset):
            while len(window.in_flight) >= job.parallel:
                window.reap(FIRST_COMPLETED)
            job.check_unchanged(fd)
            data, chunk_hash = reader.payload(start, end)
            future = pool.submit(_append_concurrent, job, sid, start, data, chunk_hash)
            del data  # the worker holds the only reference: at most `parallel` buffers
            window.in_flight[future] = (start, end)
        while window.in_flight:
            window.reap(FIRST_COMPLETED)
    except errors.BackupError:
        pool.shutdown(cancel_futures=True)  # a chunk failed: let the others end their tries
        raise
    except BaseException:
        # Ctrl-C/SIGTERM: workers stop retrying at once instead of finishing their backoff
        # (systemd gives a unit 90 s to stop); the process is ending anyway.
        job.api.retry.stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    local_hash = job.before_commit(fd, reader)
    try:
        return job.commit(
            lambda: api.session_finish(sid, size, b"", None, job.source.name, job.overwrite),
            local_hash,
        )
    except errors.IncorrectOffset as exc:
        raise errors.BackupError(
            f"Dropbox holds {exc.correct_offset} of {size} bytes of {job.source.name} "
            "after every chunk was acknowledged",
            "run the upload again",
            code="incorrect_offset",
        ) from None


def _append_concurrent(job: Job, session_id: str, start: int, data: bytes, chunk_hash: str) -> None:
    last = start + len(data) == job.source.size
    for attempt in range(MAX_OFFSET_CORRECTIONS):
        try:
            job.send(
                f"uploading {job.source.name} at {start}",
                lambda: job.api.session_append(session_id, start, data, chunk_hash, close=last),
            )
            return
        except errors.IncorrectOffset:
            # In a concurrent session every chunk's offset is its own; the server's
            # correct_offset (bytes held so far) says nothing about this chunk: resend it.
            if attempt == MAX_OFFSET_CORRECTIONS - 1:
                raise


@dataclass
class _Window:
    """Chunks in flight in a concurrent session and the acknowledged prefix."""

    job: Job
    reader: BlockReader
    session_id: str
    committed: int
    in_flight: dict[Future[None], tuple[int, int]] = field(default_factory=dict)
    acked: dict[int, int] = field(default_factory=dict)

    def reap(self, return_when: str) -> None:
        done, _ = wait(list(self.in_flight), return_when=return_when)
        for future in done:
            start, end = self.in_flight.pop(future)
            future.result()  # raises the worker's error
            self.acked[start] = end
        moved = False
        while self.committed in self.acked:
            self.committed = self.acked.pop(self.committed)
            moved = True
        if moved:
            self.job.record(self.session_id, CONCURRENT, self.committed, self.reader)
            self.job.advance_to(self.committed)


def chunk_bytes(mib: int) -> int:
    """A chunk size in bytes from MiB, rounded down to a multiple of 4 MiB (at least 4)."""
    return max(4, int(mib) // 4 * 4) * MIB
