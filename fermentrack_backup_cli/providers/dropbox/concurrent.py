"""A concurrent upload session: chunks of one file appended by a bounded pool of
threads, at most `parallel` chunk buffers in memory, the acknowledged prefix recorded
as it grows (Dropbox's concurrent sessions take chunks in any order)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ... import errors
from ...contenthash import BLOCK_SIZE
from ...models import RemoteFile
from ...units import human_size
from .chunks import BlockReader, plan_chunks
from .job import CONCURRENT, MAX_OFFSET_CORRECTIONS, Job
from .transport import cut_every_connection
from .tuning import Measure, choose, estimate


def run_concurrent(
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
    # adaptive: the first spans (4 MiB, then one chunk, to tell latency from throughput)
    # are sent alone and timed; then `limit` chunks go in flight
    probes = 0
    if job.auto_memory is not None:
        probes = 2 if offset == 0 and size > BLOCK_SIZE + job.chunk_size > 2 * BLOCK_SIZE else 1
    limit = 1 if probes else job.parallel
    pool = ThreadPoolExecutor(max_workers=max(1, job.parallel), thread_name_prefix="upload")
    sent_at = 0.0
    measures: list[Measure] = []
    try:
        for start, end in _spans(size, job.chunk_size, offset, probes == 2):
            while len(window.in_flight) >= limit:
                window.reap(FIRST_COMPLETED)
                if sent_at:
                    measures.append(Measure(time.monotonic() - sent_at, window.last_size))
                    sent_at = 0.0
                    if len(measures) == probes:
                        latency, rate = estimate(measures)
                        _, want = choose(job.auto_memory or 0, latency, rate, job.chunk_size)
                        limit = job.parallel_used = min(want, job.parallel)
            job.check_unchanged(fd)
            data, chunk_hash = reader.payload(start, end)
            future = pool.submit(_append_concurrent, job, sid, start, data, chunk_hash)
            del data  # the worker holds the only reference: at most `parallel` buffers
            window.in_flight[future] = (start, end)
            if len(measures) < probes:
                sent_at, window.last_size = time.monotonic(), end - start
        while window.in_flight:
            window.reap(FIRST_COMPLETED)
    except errors.BackupError:
        pool.shutdown(cancel_futures=True)  # a chunk failed: let the others end their tries
        raise
    except BaseException:
        # Ctrl-C/SIGTERM: workers stop retrying at once instead of finishing their backoff
        # (systemd gives a unit 90 s to stop); the process is ending anyway.
        job.api.retry.stop.set()
        cut_every_connection()  # a worker blocked on a stalled server would hold the exit
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
            f"Dropbox holds {human_size(exc.correct_offset)} of {human_size(size)} of "
            f"{job.source.name} "
            "after every chunk was acknowledged",
            "run the upload again",
            code="incorrect_offset",
        ) from None


def _spans(size: int, chunk: int, offset: int, probe_small: bool) -> Iterator[tuple[int, int]]:
    """The chunks to send; with `probe_small` a 4 MiB span first (a second size to time)."""
    if probe_small:
        yield 0, BLOCK_SIZE
        offset = BLOCK_SIZE
    yield from plan_chunks(size, chunk, offset)


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
    last_size: int = 0

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
