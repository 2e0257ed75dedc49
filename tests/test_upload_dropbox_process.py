"""The installed CLI in real processes against the fake: SIGKILL then resume, two runs at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.units import human_size
from tests.cli_helpers import EXE

MIB = 1024 * 1024
FOLDER = "/Fermentrack Backups"


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [EXE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_an_upload_killed_mid_way_resumes_in_the_next_run(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    data = os.urandom(6 * 4 * MIB + 99)
    path = tmp_path / "2026-02-01.tar.xz"
    path.write_bytes(data)
    fake_dropbox.latency = 0.25
    args = ("upload", str(path), "--to", "dropbox", "--no-check", "--chunk-size", "4", "--json")
    proc = start_cli(*args, env=dropbox_env)
    try:
        # two appends answered: the first is recorded by then (answers are 0.25 s apart; the
        # client records an acknowledged prefix once it has read the answer, not when the
        # fake sends it, so one answer alone races the kill)
        wait_for(
            lambda: (
                sum(
                    r.status == 200
                    for r in fake_dropbox.requests_to("files/upload_session/append_v2")
                )
                >= 2
            )
        )
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert fake_dropbox.file_paths() == []
    fake_dropbox.latency = 0.0

    second = subprocess.run(
        [EXE, *args], env=dropbox_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert second.returncode == 0, second.stderr
    (result,) = json.loads(second.stdout)["uploads"]
    assert result["status"] == "completed"
    assert result["resumed_from"] >= 4 * MIB
    assert result["message"] == f"resumed at {human_size(result['resumed_from'])}"
    assert fake_dropbox.read_file(f"{FOLDER}/{path.name}") == data
    assert len(fake_dropbox.requests_to("files/upload_session/start")) == 1
    # the killed run's row is not left "uploading" forever
    from fermentrack_backup_cli.core.context import Context

    app = Context.create()
    rows = [(r.status, r.error_code) for r in app.db.attempts.list()]
    app.close()
    assert rows == [("completed", None), ("failed", "interrupted")]


def test_two_runs_at_once_never_upload_an_archive_twice(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    folder = tmp_path / "backups"
    folder.mkdir()
    for i in range(3):
        (folder / f"2026-03-0{i + 1}.tar.xz").write_bytes(os.urandom(100_000 + i))
    fake_dropbox.latency = 0.05
    args = ("upload", str(folder), "--to", "dropbox", "--no-check", "--json")
    procs = [start_cli(*args, env=dropbox_env) for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    statuses = sorted(r["status"] for out, _ in outputs for r in json.loads(out)["uploads"])
    assert statuses == ["completed"] * 3 + ["skipped"] * 3
    assert len(fake_dropbox.requests_to("files/upload")) == 3
    assert len(fake_dropbox.file_paths()) == 3


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_parallel_chunks_wait_on_a_stalled_server_exits_at_once(
    fake_dropbox: Any,
    make_dropbox_conn: Any,
    dropbox_env: dict[str, str],
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    make_dropbox_conn(store="file")
    path = tmp_path / "2026-02-01.tar.xz"
    path.write_bytes(os.urandom(8 * 4 * MIB))
    fake_dropbox.inject("files/upload_session/append_v2", "stall", times=100)
    args = ("upload", str(path), "--to", "dropbox", "--no-check", "--chunk-size", "4")
    proc = start_cli(*args, "--parallel", "4", env=dropbox_env)
    try:
        wait_for(lambda: len(fake_dropbox.requests_to("files/upload_session/append_v2")) == 4)
        time.sleep(0.5)  # the four workers are blocked reading their answers
        sent = time.monotonic()
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=50)  # the workers' read timeout is 60 s
    finally:
        proc.kill()
        proc.wait(timeout=10)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130, stderr
    assert elapsed < 10, f"exited {elapsed:.1f} s after the signal: {stderr}"
    assert "interrupted (Ctrl-C or SIGTERM)" in stderr


def test_an_interrupt_while_a_sequential_append_waits_on_a_stalled_server_exits_at_once(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    """A sequential session's append is sent by a worker (the next chunk is read ahead
    meanwhile): an interrupt must not wait for that worker's read timeout either."""
    make_dropbox_conn(store="file")
    path = tmp_path / "2026-02-01.tar.xz"
    path.write_bytes(os.urandom(4 * 4 * MIB))
    fake_dropbox.inject("files/upload_session/append_v2", "stall", times=100)
    args = ("upload", str(path), "--to", "dropbox", "--no-check", "--chunk-size", "4")
    proc = start_cli(*args, "--parallel", "1", env=dropbox_env)
    try:
        wait_for(lambda: len(fake_dropbox.requests_to("files/upload_session/append_v2")) == 1)
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=50)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - sent < 10, stderr
