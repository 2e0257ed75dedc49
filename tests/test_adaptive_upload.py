"""Adaptive defaults against the fake Dropbox: the first chunk is sent alone and timed,
then more chunks go in flight; small files and defaults stay byte-identical."""

from __future__ import annotations

from typing import Any

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.providers.base import SourceFile
from fermentrack_backup_cli.providers.dropbox.engine import upload_file
from fermentrack_backup_cli.providers.dropbox.job import Job
from fermentrack_backup_cli.providers.dropbox.tuning import MIB
from tests.test_transfer import Rig, rig

__all__ = ["rig"]


def test_auto_goes_parallel_after_a_timed_first_chunk(rig: Rig) -> None:
    rig.fake.latency = 0.05
    path, data = rig.file(4 * 8 * MIB + 5)
    job = Job(rig.target, SourceFile.from_path(path), False, rig.progress.append, 8 * MIB, 3)
    job.auto_memory = 24 * MIB
    upload_file(job)
    assert rig.stored() == data
    assert job.parallel_used > 1
    starts = rig.fake.requests_to("files/upload_session/start")
    assert starts[0].args["session_type"][".tag"] == "concurrent"
    appends = rig.fake.requests_to("files/upload_session/append_v2")
    assert [a.args["close"] for a in appends if a.args["close"]] == [True]


def test_defaults_are_auto_and_store_files_byte_identical(rig: Rig) -> None:
    assert rig.target.transfer.parallel == 0 and rig.target.transfer.chunk_size_mib == 0
    for size, name in ((1000, "small.tar.xz"), (3 * 8 * MIB + 1, "b.tar.xz")):
        path, data = rig.file(size, name)
        stored: Any = rig.target.upload(SourceFile.from_path(path), overwrite=False)
        assert rig.stored(name) == data
        assert stored.file.size == size


def _auto_job(rig: Rig, path: Any, **kw: Any) -> Job:
    job = Job(
        rig.target,
        SourceFile.from_path(path),
        False,
        kw.pop("progress", rig.progress.append),
        8 * MIB,
        2,
        rig.store,
    )
    job.auto_memory, job.auto_chunk = 24 * MIB, True
    return job


def _append_sizes(rig: Rig) -> list[int]:
    """Sizes of the appends in file order."""
    appends = rig.fake.requests_to("files/upload_session/append_v2")
    ordered = sorted(appends, key=lambda r: int(r.args["cursor"]["offset"]))
    return [int(a.headers.get("Content-Length", 0)) for a in ordered]


def test_a_far_path_switches_to_small_chunks_and_more_in_flight(rig: Rig) -> None:
    rig.fake.latency = 0.1  # far: the choice is 4 MiB chunks, the whole budget in flight
    path, data = rig.file(48 * MIB + 5)
    job = _auto_job(rig, path)
    upload_file(job)
    assert rig.stored() == data
    assert (job.chunk_size, job.parallel_used) == (4 * MIB, 5)
    sizes = _append_sizes(rig)
    assert sizes[:2] == [4 * MIB, 8 * MIB]  # the two probes, sent alone
    assert set(sizes[3:-1]) == {4 * MIB}  # after the chunk read ahead of the choice
    assert sum(sizes) == len(data)


def test_an_adaptive_upload_resumes_its_session_and_tunes_again(rig: Rig) -> None:
    path, data = rig.file(40 * MIB + 3)
    reported: list[int] = []

    def progress(n: int) -> None:  # after the first acknowledged chunk, Dropbox fails
        reported.append(n)
        rig.fake.inject("files/upload_session/append_v2", "503", times=1000)

    with pytest.raises(errors.RetryExhausted):
        upload_file(_auto_job(rig, path, progress=progress))
    committed = rig.store.load(rig.target.remote_path("b.tar.xz"))
    assert committed is not None and 0 < committed.committed < len(data)
    rig.fake.clear_faults()
    rig.fake.latency = 0.1
    job = _auto_job(rig, path)
    stored = upload_file(job)
    assert stored.resumed_from == committed.committed
    assert rig.stored() == data
    assert job.parallel_used == 5  # measured again from where it resumed
    assert len(rig.fake.requests_to("files/upload_session/start")) == 1
