"""A concurrent upload session: chunks of one file appended by a bounded pool of
threads, at most `parallel` chunks in flight plus the one read ahead, the acknowledged
prefix recorded as it grows (Dropbox's concurrent sessions take chunks in any order)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field

from ... import errors
from ...contenthash import BLOCK_SIZE
from ...models import RemoteFile
from ...units import human_size
from .chunks import BlockReader, span_end
from .job import CONCURRENT, MAX_OFFSET_CORRECTIONS, Job
from .tuning import MAX_PARALLEL, Measure, choose, estimate


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
    # are sent alone and timed (each by its worker); then `limit` chunks go in flight
    probes = 0
    if job.auto_memory is not None:
        two = offset % BLOCK_SIZE == 0 and size - offset > BLOCK_SIZE + job.chunk_size
        probes = 2 if two and job.chunk_size > BLOCK_SIZE else 1
    limit = 1 if probes else job.parallel
    workers = MAX_PARALLEL if job.auto_memory is not None else max(1, job.parallel)
    with job.workers(workers) as pool:
        for start, end in _spans(size, job, offset, probes == 2):
            job.check_unchanged(fd)
            # read ahead: this chunk is read and hashed while the others are in flight
            data, chunk_hash = reader.payload(start, end)
            while len(window.in_flight) >= limit:
                window.reap(FIRST_COMPLETED)
                if probes and len(window.measures) >= probes:
                    latency, rate = estimate(window.measures[:probes])
                    memory = job.auto_memory or 0
                    job.chunk_size, limit = choose(
                        memory, latency, rate, None if job.auto_chunk else job.chunk_size
                    )
                    job.parallel_used, probes = limit, 0
            future = pool.submit(_append_concurrent, job, sid, start, data, chunk_hash)
            del data  # the worker holds the only reference: bounded buffers
            window.in_flight[future] = (start, end)
        while window.in_flight:
            window.reap(FIRST_COMPLETED)
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


def _spans(size: int, job: Job, offset: int, probe_small: bool) -> Iterator[tuple[int, int]]:
    """The chunks to send, each of the job's chunk size at the time it is read (the
    adaptive choice may change it); with `probe_small` a 4 MiB span first (a second size
    to time)."""
    if probe_small:
        yield offset, offset + BLOCK_SIZE
        offset += BLOCK_SIZE
    while offset < size:
        end = span_end(offset, size, job.chunk_size)
        yield offset, end
        offset = end


def _append_concurrent(
    job: Job, session_id: str, start: int, data: bytes, chunk_hash: str
) -> Measure:
    """Append one chunk; how long it took (the adaptive choice's measure)."""
    last = start + len(data) == job.source.size
    sent = time.monotonic()
    for attempt in range(MAX_OFFSET_CORRECTIONS):
        try:
            job.send(
                f"uploading {job.source.name} at {start}",
                lambda: job.api.session_append(session_id, start, data, chunk_hash, close=last),
            )
            break
        except errors.IncorrectOffset:
            # In a concurrent session every chunk's offset is its own; the server's
            # correct_offset (bytes held so far) says nothing about this chunk: resend it.
            if attempt == MAX_OFFSET_CORRECTIONS - 1:
                raise
    return Measure(time.monotonic() - sent, len(data))


@dataclass
class _Window:
    """Chunks in flight in a concurrent session and the acknowledged prefix."""

    job: Job
    reader: BlockReader
    session_id: str
    committed: int
    in_flight: dict[Future[Measure], tuple[int, int]] = field(default_factory=dict)
    acked: dict[int, int] = field(default_factory=dict)
    measures: list[Measure] = field(default_factory=list)  # in the order they ended

    def reap(self, return_when: str) -> None:
        done, _ = wait(list(self.in_flight), return_when=return_when)
        for future in done:
            start, end = self.in_flight.pop(future)
            self.measures.append(future.result())  # raises the worker's error
            self.acked[start] = end
        moved = False
        while self.committed in self.acked:
            self.committed = self.acked.pop(self.committed)
            moved = True
        if moved:
            self.job.record(self.session_id, CONCURRENT, self.committed, self.reader)
            self.job.advance_to(self.committed)
