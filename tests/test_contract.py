"""One provider contract: the local-folder target and the Dropbox target (against the
fake over real HTTPS) list, stat, read and delete stored files the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.config import DEFAULT_REMOTE_FOLDER
from fermentrack_backup_cli.contenthash import content_hash
from fermentrack_backup_cli.providers.base import Target


@dataclass
class Stored:
    """A target plus a way to put bytes straight into its remote folder."""

    kind: str
    target: Target
    put: Callable[[str, bytes], None]
    fake: Any = None


def _local(tmp_path: Path) -> Stored:
    from fermentrack_backup_cli.providers.local.target import LocalTarget

    target = LocalTarget(tmp_path / "usb", DEFAULT_REMOTE_FOLDER, "local")
    target.folder.mkdir(parents=True)

    def put(name: str, data: bytes) -> None:
        (target.folder / name).write_bytes(data)

    return Stored("local", target, put)


def _dropbox(request: pytest.FixtureRequest) -> Stored:
    from fermentrack_backup_cli.core.context import Context
    from tests.cli_helpers import target_of

    fake = request.getfixturevalue("fake_dropbox")
    conn = request.getfixturevalue("make_dropbox_conn")()
    target = target_of(Context.create(), conn)

    def put(name: str, data: bytes) -> None:
        fake.put_file(f"{DEFAULT_REMOTE_FOLDER}/{name}", data)

    return Stored("dropbox", target, put, fake)


@pytest.fixture(params=["local", "dropbox"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Stored:
    return _local(tmp_path) if request.param == "local" else _dropbox(request)


def test_listing_returns_every_file_across_pages(stored: Stored) -> None:
    if stored.fake is not None:
        stored.fake.list_page_size = 500
    names = [f"2026-01-01T00.00.{i:04d}.tar.xz" for i in range(2100)] + ["notes.txt"]
    for name in names:
        stored.put(name, b"x")
    files = list(stored.target.list_files())
    assert sorted(f.name for f in files) == sorted(names)
    assert all(f.size == 1 and f.modified is not None for f in files)
    assert len({f.path for f in files}) == len(names)
    if stored.fake is not None:
        assert len(stored.fake.requests_to("files/list_folder/continue")) >= 4


def test_an_empty_or_missing_folder_lists_nothing(stored: Stored) -> None:
    assert list(stored.target.list_files()) == []


def test_stat_gives_size_and_content_hash_or_none(stored: Stored) -> None:
    data = bytes(range(256)) * 300
    stored.put("a.tar.xz", data)
    meta = stored.target.stat("a.tar.xz")
    assert meta is not None
    assert (meta.name, meta.size, meta.content_hash) == ("a.tar.xz", len(data), content_hash(data))
    assert meta.path == stored.target.remote_path("a.tar.xz")
    assert stored.target.stat("missing.tar.xz") is None


def test_open_read_streams_from_the_start_or_an_offset(stored: Stored) -> None:
    data = bytes(range(256)) * 4000
    stored.put("a.tar.xz", data)
    with stored.target.open_read("a.tar.xz") as stream:
        assert stream.read() == data
    with stored.target.open_read("a.tar.xz", 12345) as stream:
        assert stream.read() == data[12345:]


def test_open_read_of_a_missing_file_is_not_found(stored: Stored) -> None:
    stored.put("other.tar.xz", b"x")
    with pytest.raises(errors.NotFound):
        stored.target.open_read("missing.tar.xz").read()


def test_delete_removes_one_or_many_and_skips_missing(stored: Stored) -> None:
    for i in range(5):
        stored.put(f"{i}.tar.xz", b"x")
    assert stored.target.delete(["0.tar.xz"]) == ["0.tar.xz"]
    deleted = stored.target.delete(["1.tar.xz", "2.tar.xz", "gone.tar.xz", "3.tar.xz"])
    assert sorted(deleted) == ["1.tar.xz", "2.tar.xz", "3.tar.xz"]
    assert [f.name for f in stored.target.list_files()] == ["4.tar.xz"]
    if stored.fake is not None:
        assert stored.fake.requests_to("files/delete_batch")
