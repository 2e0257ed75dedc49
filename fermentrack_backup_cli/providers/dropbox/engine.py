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
from concurrent.futures import Future, ThreadPoolExecutor

from ... import errors
from ...contenthash import BLOCK_SIZE
from ...models import RemoteFile, ResumeRecord
from ...units import size_pair
from ..base import Stored
from .chunks import BlockReader, span_end
from .concurrent import run_concurrent
from .job import CONCURRENT, SEQUENTIAL, Job, corrected

MIB = 1024 * 1024
SESSION_LIFETIME_S = 7 * 24 * 3600 - 3600  # Dropbox keeps sessions 7 days; keep a margin


def upload_file(job: Job) -> Stored:
    """Upload `job.source`; resume a recorded session of the same unchanged file.

    One `BlockReader` serves every session tried for the file: the bytes it has hashed
    (and fed to the check) are never hashed or fed again."""
    with job.source.path.open("rb") as handle:
        fd = handle.fileno()
        job.check_unchanged(fd)
        if job.source.size <= job.chunk_size:
            reader = BlockReader(fd, job.source, sink=job.sink())
            return _verified(job, reader, _upload_small(job, fd, reader), None)
        resumed = _resume_point(job)
        reader = BlockReader(fd, job.source, sink=job.sink())
        if resumed is not None:
            reader = _prefix_reader(job, fd, resumed[0].digests)
            if len(reader.digests) * 32 < len(resumed[0].digests):
                job.store.drop(job.remote_path)  # same size and mtime, other bytes (cp -p)
                resumed = None
        if resumed is not None:
            record, offset = resumed
            job.created = record.created
            try:
                md = _run_session(job, fd, reader, record.session_id, record.kind, offset)
                return _verified(job, reader, md, offset)
            except errors.SessionGone:
                job.store.drop(job.remote_path)  # expired meanwhile: start over below
            except errors.SourceChanged:
                job.store.drop(job.remote_path)
                raise
        job.created = 0.0
        kind = CONCURRENT if job.parallel > 1 else SEQUENTIAL
        try:
            md = _run_session(job, fd, reader, None, kind, 0)
        except (errors.SourceChanged, errors.SessionGone):
            job.store.drop(job.remote_path)
            raise
        return _verified(job, reader, md, None)


def _prefix_reader(job: Job, fd: int, digests: bytes) -> BlockReader:
    """A reader that has hashed the blocks the server already holds, as far as they are
    still the file's first blocks.

    Size and mtime can survive a rewrite (`cp -p`, `rsync -t`); resuming onto the old
    bytes would commit a torn file. This reads the acknowledged prefix a second time,
    only when resuming; the blocks that match are fed to the check, so a new session
    started after a mismatch goes on from there without feeding them twice.
    """
    size = hashlib.sha256().digest_size
    sink = job.sink()
    good = []
    for index in range(len(digests) // size):
        block = os.pread(fd, BLOCK_SIZE, index * BLOCK_SIZE)
        digest = hashlib.sha256(block).digest()
        if digest != digests[index * size : (index + 1) * size]:
            break
        good.append(digest)
        if sink is not None:
            sink(memoryview(block))
    return BlockReader(fd, job.source, b"".join(good), sink)


def _verified(job: Job, reader: BlockReader, md: RemoteFile, resumed: int | None) -> Stored:
    job.store.drop(job.remote_path)
    local_hash = reader.file_hash()
    if md.size != job.source.size or md.content_hash != local_hash:
        held, sent = size_pair(md.size, job.source.size)
        raise errors.VerifyMismatch(
            f"Dropbox holds {held} with content hash {md.content_hash} for "
            f"{md.path}, but {sent} with hash {local_hash} were sent",
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
        return run_concurrent(job, fd, reader, session_id, offset)
    return _sequential(job, fd, reader, session_id, offset)


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
    # one append in flight (a worker sends it) while the next chunk is read and hashed:
    # two chunk buffers at most
    with job.workers(1) as pool:
        return _sequential_appends(job, fd, reader, sid, offset, pool)


def _sequential_appends(
    job: Job, fd: int, reader: BlockReader, sid: str, offset: int, pool: ThreadPoolExecutor
) -> RemoteFile:
    api, size = job.api, job.source.size
    corrections = 0
    sending: Future[None] | None = None  # the append that ends at `offset`, in flight
    while True:
        job.check_unchanged(fd)
        end = span_end(offset, size, job.chunk_size)
        data, chunk_hash = reader.payload(offset, end)  # read ahead of the one in flight
        digest = chunk_hash if data else None
        if sending is not None:
            try:
                sending.result()
            except errors.IncorrectOffset as exc:
                corrections += 1
                sending, offset = None, corrected(exc, job, corrections)
                continue  # the chunk read ahead starts at the wrong offset: read again
            sending = None
            job.record(sid, SEQUENTIAL, offset, reader)
            job.advance_to(offset)
        if end == size:
            try:
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
            except errors.IncorrectOffset as exc:
                corrections += 1
                offset = corrected(exc, job, corrections)
                continue
        sending = pool.submit(
            job.send,
            f"uploading {job.source.name} at {offset}",
            functools.partial(api.session_append, sid, offset, data, digest, close=False),
        )
        del data
        offset = end


def chunk_bytes(mib: int) -> int:
    """A chunk size in bytes from MiB, rounded down to a multiple of 4 MiB (at least 4)."""
    return max(4, int(mib) // 4 * 4) * MIB
