"""Pipelining (issue 11, item 2): the next chunk is read and hashed (and fed to the
archive check) while the previous one is in flight, in sequential and concurrent
sessions alike, and the check still sees every byte once, in file order."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.providers.dropbox.engine import upload_file
from tests.test_transfer import CHUNK, Rig, rig

__all__ = ["rig"]
LATENCY = 0.3


class TimedCheck:
    """A Check that records when each byte arrived (wall clock, as the fake's)."""

    def __init__(self, path: Path) -> None:
        self.expected = path.read_bytes()
        self.got = bytearray()
        self.fed: list[tuple[float, int]] = []  # (time, bytes fed so far)
        self.finished = False

    def feed(self, data: bytes | memoryview) -> None:
        self.got += data
        self.fed.append((time.time(), len(self.got)))

    def finish(self) -> None:
        assert bytes(self.got) == self.expected  # every byte once, in file order
        self.finished = True

    def abort(self) -> None:
        pass

    def fed_by(self, offset: int) -> float:
        """When the bytes up to `offset` had all been fed."""
        return next(t for t, total in self.fed if total >= offset)


def _upload_timed(rig: Rig, size: int, parallel: int) -> tuple[TimedCheck, int]:
    rig.fake.latency = LATENCY
    path, data = rig.file(size)
    job = rig.job(path, parallel)
    check = job.check = TimedCheck(path)
    upload_file(job)
    assert rig.stored() == data and check.finished
    return check, size


def test_sequential_reads_the_next_chunk_while_one_is_in_flight(rig: Rig) -> None:
    check, size = _upload_timed(rig, 4 * CHUNK + 5, parallel=1)
    appends = rig.fake.requests_to("files/upload_session/append_v2")
    assert len(appends) == 3  # the first chunk rides on start, the last on finish
    for append in appends:
        offset = int(append.args["cursor"]["offset"])
        following = min(size, offset + 2 * CHUNK)  # the chunk after this append's
        # read before this append was answered (it is answered LATENCY after it arrived)
        assert check.fed_by(following) < append.time + LATENCY


def test_concurrent_reads_ahead_of_the_chunks_in_flight(rig: Rig) -> None:
    check, _ = _upload_timed(rig, 6 * CHUNK, parallel=2)
    appends = sorted(
        rig.fake.requests_to("files/upload_session/append_v2"),
        key=lambda r: int(r.args["cursor"]["offset"]),
    )
    # with 2 in flight, the third chunk is read before the first is answered
    first = appends[0]
    assert check.fed_by(3 * CHUNK) < first.time + LATENCY


def test_a_failed_append_stops_the_read_ahead_without_committing(rig: Rig) -> None:
    rig.fake.inject("files/upload_session/append_v2", "503", times=1000)
    path, _ = rig.file(4 * CHUNK + 5)
    job = rig.job(path, 1)
    job.check = TimedCheck(path)
    with pytest.raises(errors.RetryExhausted):
        upload_file(job)
    assert rig.fake.requests_to("files/upload_session/finish") == []
    assert not job.check.finished
