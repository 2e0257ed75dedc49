"""The upload engine against the fake Dropbox over real HTTPS: sizes, sessions, faults.

Chunks are 4 MiB (Dropbox's smallest legal chunk for concurrent sessions) and
files a few MiB, so the whole file stays fast. Retry sleeps are recorded, not slept.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.contenthash import content_hash
from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.providers.base import SourceFile
from fermentrack_backup_cli.providers.dropbox.engine import upload_file
from fermentrack_backup_cli.providers.dropbox.job import Job

MIB = 1024 * 1024
CHUNK = 4 * MIB
FOLDER = "/Fermentrack Backups"


class Rig:
    """A Dropbox target on the fake plus the pieces a Job needs."""

    def __init__(self, fake: Any, conn: Any, tmp: Path) -> None:
        from tests.cli_helpers import target_of

        self.fake = fake
        self.app = Context.create()
        self.conn = conn
        self.target = target_of(self.app, conn)
        self.sleeps: list[float] = []
        self.target.retry.sleep = self.sleeps.append
        self.store = self.app.db.sessions.for_connection(conn.id)
        self.tmp = tmp
        self.progress: list[int] = []

    def file(self, size: int, name: str = "b.tar.xz") -> tuple[Path, bytes]:
        data = os.urandom(size)
        path = self.tmp / name
        path.write_bytes(data)
        return path, data

    def job(self, path: Path, parallel: int = 1, **kw: Any) -> Job:
        return Job(
            self.target,
            SourceFile.from_path(path),
            kw.pop("overwrite", False),
            kw.pop("progress", self.progress.append),
            CHUNK,
            parallel,
            self.store,
        )

    def upload(self, path: Path, parallel: int = 1, **kw: Any) -> Any:
        return upload_file(self.job(path, parallel, **kw))

    def stored(self, name: str = "b.tar.xz") -> bytes:
        return bytes(self.fake.read_file(f"{FOLDER}/{name}"))

    def data_calls(self) -> list[Any]:
        return [r for r in self.fake.requests if r.route.startswith("files/upload")]


@pytest.fixture
def rig(fake_dropbox: Any, make_dropbox_conn: Any, tmp_path: Path) -> Rig:
    return Rig(fake_dropbox, make_dropbox_conn(), tmp_path)


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 1], ids=lambda n: f"{n}B"
)
@pytest.mark.parametrize("parallel", [1, 3])
def test_files_of_every_boundary_size_are_stored_byte_identical(
    rig: Rig, size: int, parallel: int
) -> None:
    path, data = rig.file(size)
    stored = rig.upload(path, parallel)
    assert rig.stored() == data
    assert stored.file.size == size
    assert stored.file.content_hash == content_hash(data)
    assert stored.resumed_from is None
    assert sum(rig.progress) == size
    routes = [r.route for r in rig.data_calls()]
    if size <= CHUNK:
        assert routes == ["files/upload"]
    else:
        assert "files/upload_session/finish" in routes
    for request in rig.data_calls():  # every call that carries data says its hash
        args = request.args or {}
        if request.route != "files/upload_session/finish" or parallel == 1:
            assert args.get("content_hash") or request.route.endswith("start"), request.route
    assert rig.store.load(rig.target.remote_path("b.tar.xz")) is None


def test_a_parallel_upload_uses_one_concurrent_session(rig: Rig) -> None:
    path, data = rig.file(5 * CHUNK + 123)
    rig.upload(path, parallel=4)
    assert rig.stored() == data
    starts = rig.fake.requests_to("files/upload_session/start")
    assert len(starts) == 1
    assert starts[0].args["session_type"][".tag"] == "concurrent"
    appends = rig.fake.requests_to("files/upload_session/append_v2")
    assert sorted(a.args["cursor"]["offset"] for a in appends) == [i * CHUNK for i in range(6)]
    assert [a.args["close"] for a in appends if a.args["close"]] == [True]


def test_a_stored_copy_with_another_hash_is_a_failure_never_completed(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = rig.file(CHUNK + 10)
    real = rig.target.session_finish

    def lying_finish(*args: Any, **kw: Any) -> Any:
        from dataclasses import replace

        return replace(real(*args, **kw), content_hash="0" * 64)

    monkeypatch.setattr(rig.target, "session_finish", lying_finish)
    with pytest.raises(errors.VerifyMismatch):
        rig.upload(path)


def test_a_damaged_chunk_is_resent_once_then_fails(rig: Rig) -> None:
    path, data = rig.file(2 * CHUNK + 5)
    rig.fake.inject("files/upload_session/append_v2", "content_hash_mismatch", times=1)
    rig.upload(path)
    assert rig.stored() == data
    rig.fake.inject("files/upload", "content_hash_mismatch", times=2)
    small, _ = rig.file(10, "s.tar.xz")
    with pytest.raises(errors.ContentHashMismatch):
        rig.upload(small)


def test_upload_continues_from_the_servers_offset_after_incorrect_offset(rig: Rig) -> None:
    path, data = rig.file(3 * CHUNK + 7)
    rig.fake.inject("files/upload_session/append_v2", "incorrect_offset", times=2)
    rig.fake.inject("files/upload_session/finish", "incorrect_offset", times=1)
    rig.upload(path)
    assert rig.stored() == data


def test_rate_limits_wait_at_least_retry_after_for_both_reasons(rig: Rig) -> None:
    path, data = rig.file(2 * CHUNK + 1)
    rig.fake.inject("files/upload_session/append_v2", "429", times=1, retry_after=7)
    rig.fake.inject(
        "files/upload_session/finish",
        "429",
        times=1,
        retry_after=5,
        reason="too_many_write_operations",
    )
    rig.upload(path)
    assert rig.stored() == data
    assert len(rig.sleeps) == 2
    assert rig.sleeps[0] >= 7
    assert rig.sleeps[1] >= 5


def test_server_errors_are_retried_and_then_exhaust_the_budget(rig: Rig) -> None:
    path, data = rig.file(CHUNK + 1)
    rig.fake.inject("files/upload_session/start", "500", times=1)
    rig.fake.inject("files/upload_session/finish", "503", times=2)
    rig.upload(path)
    assert rig.stored() == data
    rig.fake.inject("files/upload_session/finish", "503", times=100)
    other, _ = rig.file(CHUNK + 1, "c.tar.xz")
    with pytest.raises(errors.RetryExhausted):
        rig.upload(other)
    # the acknowledged prefix is kept for the next run
    record = rig.store.load(rig.target.remote_path("c.tar.xz"))
    assert record is not None
    assert record.committed == CHUNK


def test_upload_survives_a_connection_reset_in_the_middle_of_a_chunk(rig: Rig) -> None:
    path, data = rig.file(3 * CHUNK)
    rig.fake.inject("files/upload_session/append_v2", "reset", times=1)
    rig.upload(path)
    assert rig.stored() == data
    assert len(rig.sleeps) == 1


def test_parallel_upload_survives_resets_and_rate_limits(rig: Rig) -> None:
    path, data = rig.file(4 * CHUNK + 9)
    rig.fake.inject("files/upload_session/append_v2", "reset", times=1)
    rig.fake.inject("files/upload_session/append_v2", "429", times=1, retry_after=2)
    rig.fake.inject("files/upload_session/append_v2", "incorrect_offset", times=1)
    rig.upload(path, parallel=3)
    assert rig.stored() == data


def test_an_access_token_that_expires_mid_upload_is_refreshed(rig: Rig) -> None:
    path, data = rig.file(3 * CHUNK + 1)

    def expire_after_first_chunk(nbytes: int) -> None:
        rig.fake.expire_access_tokens()

    rig.upload(path, progress=expire_after_first_chunk)
    assert rig.stored() == data
    refused = [r for r in rig.fake.requests if r.status == 401]
    assert len(refused) >= 2
    assert len(rig.fake.requests_to("oauth2/token")) >= 3


def test_short_lived_tokens_refresh_throughout_a_long_upload(rig: Rig) -> None:
    rig.fake.access_token_lifetime = 1
    path, data = rig.file(3 * CHUNK + 1)
    rig.upload(path, parallel=2)
    assert rig.stored() == data


def test_a_file_modified_during_upload_is_never_committed(rig: Rig) -> None:
    path, _ = rig.file(3 * CHUNK)

    def grow(nbytes: int) -> None:
        with path.open("ab") as f:
            f.write(b"more")

    with pytest.raises(errors.SourceChanged):
        rig.upload(path, progress=grow)
    assert rig.fake.file_paths() == []
    assert rig.fake.requests_to("files/upload_session/finish") == []
    assert rig.store.load(rig.target.remote_path("b.tar.xz")) is None


def test_a_file_that_vanishes_during_upload_is_never_committed(rig: Rig) -> None:
    path, _ = rig.file(2 * CHUNK + 1)
    with pytest.raises(errors.SourceChanged, match="vanished"):
        rig.upload(path, progress=lambda n: path.unlink(missing_ok=True))
    assert rig.fake.file_paths() == []


def test_a_recorded_session_resumes_where_the_server_stopped(rig: Rig) -> None:
    path, data = rig.file(4 * CHUNK + 3)
    rig.fake.inject("files/upload_session/append_v2", "503", times=100)
    with pytest.raises(errors.RetryExhausted):
        rig.upload(path)
    rig.fake.clear_faults()
    stored = rig.upload(path)
    assert stored.resumed_from == CHUNK
    assert rig.stored() == data
    assert len(rig.fake.requests_to("files/upload_session/start")) == 1


def test_resume_asks_the_server_when_it_holds_more_than_recorded(rig: Rig) -> None:
    path, data = rig.file(4 * CHUNK + 3)
    rig.fake.inject("files/upload_session/finish", "503", times=100)
    with pytest.raises(errors.RetryExhausted):
        rig.upload(path)
    remote = rig.target.remote_path("b.tar.xz")
    record = rig.store.load(remote)
    assert record is not None and record.committed == 4 * CHUNK
    from dataclasses import replace

    rig.store.save(remote, replace(record, committed=CHUNK, digests=record.digests[:32]))
    rig.fake.clear_faults()
    stored = rig.upload(path)
    assert stored.resumed_from == 4 * CHUNK
    assert rig.stored() == data


def test_an_expired_session_or_a_changed_file_starts_over(rig: Rig) -> None:
    path, data = rig.file(3 * CHUNK)
    rig.fake.inject("files/upload_session/append_v2", "503", times=100)
    with pytest.raises(errors.RetryExhausted):
        rig.upload(path)
    rig.fake.clear_faults()
    rig.fake.clock = lambda: time.time() + 8 * 24 * 3600  # a week later: the session expired
    stored = rig.upload(path)
    assert stored.resumed_from is None
    assert rig.stored() == data

    other, _ = rig.file(3 * CHUNK, "c.tar.xz")
    rig.fake.inject("files/upload_session/append_v2", "503", times=100)
    with pytest.raises(errors.RetryExhausted):
        rig.upload(other)
    rig.fake.clear_faults()
    changed = os.urandom(3 * CHUNK)
    other.write_bytes(changed)
    stored = rig.upload(other)
    assert stored.resumed_from is None
    assert rig.stored("c.tar.xz") == changed


def test_a_parallel_upload_resumes_its_concurrent_session(rig: Rig) -> None:
    path, data = rig.file(5 * CHUNK + 1)
    rig.fake.inject("files/upload_session/finish", "503", times=100)
    with pytest.raises(errors.RetryExhausted):
        rig.upload(path, parallel=3)
    rig.fake.clear_faults()
    stored = rig.upload(path, parallel=3)
    assert stored.resumed_from == 5 * CHUNK + 1
    assert rig.stored() == data


def test_insufficient_space_at_commit_is_reported(rig: Rig) -> None:
    path, _ = rig.file(CHUNK + 1)
    rig.fake.inject("files/upload_session/finish", "insufficient_space")
    with pytest.raises(errors.InsufficientSpace):
        rig.upload(path)
