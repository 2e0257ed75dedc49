"""Regressions found in review: torn resumes, vanished files, lost replies, pings, names."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import history, run, run_json

MIB = 1024 * 1024
FOLDER = "/Fermentrack Backups"


def test_a_file_rewritten_with_the_same_size_and_mtime_is_not_resumed_onto_old_bytes(
    fake_dropbox: Any, make_dropbox_conn: Any, tmp_path: Path
) -> None:
    make_dropbox_conn()
    path = tmp_path / "2026-01-01T03.00.00.tar.xz"
    old = os.urandom(12 * MIB + 5)
    path.write_bytes(old)
    args = ["upload", str(path), "--to", "dropbox", "--no-check", "--chunk-size", "4"]
    fake_dropbox.inject("files/upload_session/append_v2", "503", times=100)
    assert run(*args, "--max-duration", "1s").exit_code == ExitCode.NETWORK  # session recorded
    fake_dropbox.clear_faults()
    st = path.stat()
    new = os.urandom(len(old))
    path.write_bytes(new)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` / `rsync -t` leave it
    result = run_json(*args)["uploads"]
    assert result[0]["status"] == "completed"
    assert result[0]["resumed_from"] is None
    assert fake_dropbox.read_file(f"{FOLDER}/{path.name}") == new


def test_an_archive_that_vanishes_during_a_folder_run_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    for name in "abc":
        (folder / f"{name}.tar.xz").write_bytes(os.urandom(1000))
    from fermentrack_backup_cli.core import upload as pipeline

    original = pipeline.Uploader.upload_one

    def upload_one(self: Any, path: Path) -> Any:
        if path.name == "a.tar.xz":
            (folder / "b.tar.xz").unlink()  # Fermentrack's own retention, meanwhile
        return original(self, path)

    monkeypatch.setattr(pipeline.Uploader, "upload_one", upload_one)
    dest = f"local:{tmp_path / 'dest'}"
    result = run("upload", str(folder), "--to", dest, "--no-check", "--mkdir")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "unexpected" not in result.output
    assert (tmp_path / "dest" / "Fermentrack Backups" / "c.tar.xz").exists()
    rows = {Path(h.local_path).name: (h.status, h.error_code) for h in history()}
    assert rows["b.tar.xz"] == ("failed", "not_found")
    assert rows["c.tar.xz"] == ("completed", None)


def test_a_lost_reply_after_dropbox_committed_is_accepted_when_the_file_matches(
    fake_dropbox: Any, make_dropbox_conn: Any, tmp_path: Path
) -> None:
    make_dropbox_conn()
    path = tmp_path / "big.tar.xz"
    data = os.urandom(9 * MIB)
    path.write_bytes(data)
    # the finish commits, then its reply is lost: the retry finds the session gone
    fake_dropbox.inject("files/upload_session/finish", "lost_reply", times=1)
    result = run_json("upload", str(path), "--to", "dropbox", "--no-check", "--chunk-size", "4")[
        "uploads"
    ]
    assert result[0]["status"] == "completed", result
    assert fake_dropbox.read_file(f"{FOLDER}/big.tar.xz") == data


def test_a_garbled_ping_reply_never_fails_the_upload(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)

    def answer_garbage() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.recv(4096)
            conn.sendall(b"GARBAGE\r\n\r\n")
            conn.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/ping"
    archive = tmp_path / "x.tar.xz"
    archive.write_bytes(os.urandom(1000))
    try:
        result = run(
            "upload",
            str(archive),
            "--to",
            f"local:{tmp_path / 'dest'}",
            "--mkdir",
            "--no-check",
            "--notify-url",
            url,
        )
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert "warning: could not send the start notification" in result.stderr
    assert "warning: could not send the success notification" in result.stderr


def test_a_local_folder_tells_names_apart_by_case(tmp_path: Path) -> None:
    stored = tmp_path / "dest" / "Fermentrack Backups"
    stored.mkdir(parents=True)
    data = os.urandom(1000)
    (stored / "Backup.tar.xz").write_bytes(data)
    archive = tmp_path / "backup.tar.xz"
    archive.write_bytes(data)
    result = run_json("upload", str(archive), "--to", f"local:{tmp_path / 'dest'}", "--no-check")[
        "uploads"
    ]
    assert result[0]["status"] == "completed"
    assert (stored / "backup.tar.xz").exists()


def test_failed_rows_keep_the_size_and_hash_they_learned(
    tmp_path: Path, fake_dropbox: Any, make_dropbox_conn: Any
) -> None:
    make_dropbox_conn()
    archive = tmp_path / "x.tar.xz"
    archive.write_bytes(os.urandom(2000))
    fake_dropbox.inject("files/upload", "503", times=100)
    result = run("upload", str(archive), "--to", "dropbox", "--no-check", "--max-duration", "1s")
    assert result.exit_code == ExitCode.NETWORK
    failed = history()[0]
    assert (failed.status, failed.size) == ("failed", 2000)


def test_uploads_filter_expands_a_home_relative_local_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    archive = tmp_path / "x.tar.xz"
    archive.write_bytes(os.urandom(100))
    assert (
        run("upload", str(archive), "--to", "local:~/dest", "--no-check", "--mkdir").exit_code == 0
    )
    assert len(run_json("uploads", "--connection", "local:~/dest")["uploads"]) == 1


def test_a_nightly_run_hashes_stored_archives_without_unpacking_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime, timedelta

    from fermentrack_backup_cli.core import upload as pipeline
    from tests.samples import make_backup

    folder = tmp_path / "backups"
    folder.mkdir()
    for day in range(3):
        make_backup(folder, datetime(2026, 11, 1, 3) + timedelta(days=day), rows=5)
    dest = f"local:{tmp_path / 'dest'}"
    assert run("upload", str(folder), "--to", dest, "--mkdir").exit_code == 0
    checked: list[Path] = []
    original = pipeline.check_archive

    def counting(path: Path) -> str:
        checked.append(path)
        return original(path)

    monkeypatch.setattr(pipeline, "check_archive", counting)
    newest = make_backup(folder, datetime(2026, 11, 4, 3), rows=5)
    statuses = [r["status"] for r in run_json("upload", str(folder), "--to", dest)["uploads"]]
    assert statuses == ["skipped", "skipped", "skipped", "completed"]
    assert checked == [newest]  # only the archive that is actually uploaded is unpacked
