"""The archive check fused into the upload: each byte read once, a damaged archive never
committed (fake Dropbox over HTTPS and a local folder), exit 5 as the separate check."""

from __future__ import annotations

import io
import json
import lzma
import os
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.contenthash import content_hash
from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run
from tests.samples import flip_byte, truncate

MIB = 1024 * 1024
FOLDER = "/Fermentrack Backups"
NAME = "2026-11-27T03.00.00.tar.xz"


def big_archive(folder: Path, blob_mib: int = 10) -> Path:
    """A sound .tar.xz of several 4 MiB chunks: a Fermentrack dump and a random blob."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (
            ("fermentrack_data.json", json.dumps({"file_version": 3, "beers": []}).encode()),
            ("ferment_log_index.csv", b"uuid\n"),
            ("data/blob.bin", os.urandom(blob_mib * MIB)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = folder / NAME
    path.write_bytes(lzma.compress(raw.getvalue(), preset=0))
    return path


DAMAGE = {
    "flipped": lambda p: flip_byte(p, p.stat().st_size // 2),
    "truncated": lambda p: truncate(p, p.stat().st_size * 2 // 3),
}


class Opens:
    """Counts how often the archive is opened and how many of its bytes are read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
        self.opens = 0
        self.preads = 0
        real_open, real_pread = Path.open, os.pread
        target = path.resolve()
        counter = self

        def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self.resolve() == target:
                counter.opens += 1
            return real_open(self, *args, **kwargs)

        def counting_pread(fd: int, n: int, offset: int) -> bytes:
            data = real_pread(fd, n, offset)
            counter.preads += len(data)
            return data

        monkeypatch.setattr(Path, "open", counting_open)
        monkeypatch.setattr(os, "pread", counting_pread)


@pytest.fixture
def conn(make_dropbox_conn: Any) -> Any:
    return make_dropbox_conn()


@pytest.mark.parametrize("parallel", ["1", "3"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_archive_found_mid_upload_is_never_committed_to_dropbox(
    fake_dropbox: Any, conn: Any, tmp_path: Path, damage: str, parallel: str
) -> None:
    path = DAMAGE[damage](big_archive(tmp_path / "backups"))
    result = run(
        "upload", str(path), "--to", "dropbox", "--chunk-size", "4", "--parallel", parallel
    )
    assert result.exit_code == ExitCode.VERIFY, result.output
    assert "not uploaded" in result.stderr and "hint: the backup is damaged" in result.stderr
    assert fake_dropbox.file_paths() == []  # the session was never finished
    assert fake_dropbox.requests_to("files/upload_session/finish") == []
    assert fake_dropbox.requests_to("files/upload_session/start")  # found mid-upload
    sessions = Context.create().db.sessions.for_connection(conn.id)
    assert sessions.load(f"{FOLDER}/{NAME}") is None  # a later run does not resume it
    rows = json.loads(run("uploads", "--json").stdout)["uploads"]
    assert rows[0]["status"] == "failed" and rows[0]["error_code"] == "corrupt_archive"


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_archive_found_while_copying_leaves_nothing_in_the_folder(
    tmp_path: Path, damage: str
) -> None:
    path = DAMAGE[damage](big_archive(tmp_path / "backups"))
    dest = tmp_path / "usb"
    result = run("upload", str(path), "--to", f"local:{dest}", "--mkdir")
    assert result.exit_code == ExitCode.VERIFY, result.output
    assert "hint: the backup is damaged" in result.stderr
    assert list((dest / "Fermentrack Backups").iterdir()) == []  # no file, no temp file


@pytest.mark.parametrize("parallel", ["1", "3"])
def test_a_sound_archive_is_read_once_for_check_hash_and_upload_to_dropbox(
    fake_dropbox: Any, conn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: str
) -> None:
    path = big_archive(tmp_path / "backups")
    data = path.read_bytes()
    opens = Opens(monkeypatch, path)
    result = run(
        "upload", str(path), "--to", "dropbox", "--chunk-size", "4", "--parallel", parallel,
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert opens.opens == 1
    assert opens.preads == len(data)  # every byte read once
    assert fake_dropbox.read_file(f"{FOLDER}/{NAME}") == data
    (item,) = json.loads(result.stdout)["uploads"]
    assert item["content_hash"] == content_hash(data)


def test_a_sound_archive_is_read_once_when_copied_to_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = big_archive(tmp_path / "backups")
    dest = tmp_path / "usb"
    opens = Opens(monkeypatch, path)
    result = run("upload", str(path), "--to", f"local:{dest}", "--mkdir")
    assert result.exit_code == 0, result.output
    assert opens.opens == 1  # the stored copy is read back, the source only once
    assert (dest / "Fermentrack Backups" / NAME).read_bytes() == path.read_bytes()


def test_no_check_uploads_a_damaged_archive_without_checking_it(tmp_path: Path) -> None:
    path = DAMAGE["flipped"](big_archive(tmp_path / "backups", blob_mib=1))
    dest = tmp_path / "usb"
    assert run("upload", str(path), "--to", f"local:{dest}", "--mkdir", "--no-check").exit_code == 0
    assert (dest / "Fermentrack Backups" / NAME).read_bytes() == path.read_bytes()


def test_the_check_keeps_views_of_immutable_chunks_and_copies_reused_buffers(
    tmp_path: Path,
) -> None:
    """The Dropbox engine feeds views of its (immutable) chunk bytes: kept without a
    copy. A view of a buffer its owner reuses is copied, or the check would read the
    next block's bytes in place of this one's."""
    from fermentrack_backup_cli.archive.fed import FedCheck

    path = big_archive(tmp_path, blob_mib=3)
    data = path.read_bytes()
    piece = 64 * 1024
    reused = FedCheck(path, len(data))
    buffer = bytearray(piece)
    for i in range(0, len(data), piece):
        part = data[i : i + piece]
        buffer[: len(part)] = part
        reused.feed(memoryview(buffer)[: len(part)])
        buffer[:] = bytes(piece)  # the owner reuses its buffer at once
    assert reused.finish().ok
    immutable = FedCheck(path, len(data))
    view = memoryview(data)
    for i in range(0, len(data), piece):
        immutable.feed(view[i : i + piece])
    assert immutable.finish().ok


def text_archive(folder: Path) -> Path:
    """A .tar.xz of compressible text (as real backups are: CSV and JSON), ~27 MiB, so a
    flipped byte is a decoding error where it is, not only a checksum at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in (
            ("fermentrack_data.json", json.dumps({"file_version": 3, "beers": []}).encode()),
            ("data/beer_1_log.csv", os.urandom(24 * MIB).hex().encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = folder / NAME
    path.write_bytes(lzma.compress(raw.getvalue(), preset=0))
    return flip_byte(path, path.stat().st_size // 20)


@pytest.mark.parametrize("parallel", ["1", "3"])
def test_damage_found_early_stops_the_dropbox_upload_there(
    fake_dropbox: Any, conn: Any, tmp_path: Path, parallel: str
) -> None:
    path = text_archive(tmp_path / "backups")
    chunks = -(-path.stat().st_size // (4 * MIB))
    result = run(
        "upload", str(path), "--to", "dropbox", "--chunk-size", "4", "--parallel", parallel
    )
    assert result.exit_code == ExitCode.VERIFY, result.output
    assert "hint: the backup is damaged" in result.stderr
    sent = len(fake_dropbox.requests_to("files/upload_session/append_v2")) + len(
        fake_dropbox.requests_to("files/upload_session/start")
    )
    assert sent <= 1 + int(parallel) + 1 < chunks, (sent, chunks)  # not the whole file
    assert fake_dropbox.file_paths() == []
    sessions = Context.create().db.sessions.for_connection(conn.id)
    assert sessions.load(f"{FOLDER}/{NAME}") is None  # a later run does not resume it


def test_damage_found_early_stops_the_copy_to_a_folder_there(tmp_path: Path) -> None:
    path = text_archive(tmp_path / "backups")
    full = path.stat().st_size / (8 * MIB)  # seconds the whole copy takes at 8M
    dest = tmp_path / "usb"
    started = time.monotonic()
    result = run("upload", str(path), "--to", f"local:{dest}", "--mkdir", "--bwlimit", "8M")
    elapsed = time.monotonic() - started
    assert result.exit_code == ExitCode.VERIFY, result.output
    assert elapsed < full / 2, f"{elapsed:.1f} s of {full:.1f} s: the whole file was copied"
    assert list((dest / "Fermentrack Backups").iterdir()) == []
