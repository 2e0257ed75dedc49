"""Adaptive defaults against the fake Dropbox: the first chunk is sent alone and timed,
then more chunks go in flight; small files and defaults stay byte-identical."""

from __future__ import annotations

from typing import Any

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
