"""Waits are visible, and every give-up names its real cause (issue 10, item 3).

The installed CLI runs as cron runs it (stderr piped) or on a real pseudo-terminal,
against the fake Dropbox over real HTTPS. A retry's wait is one line on piped stderr
(none with --quiet; with --json stdout stays one JSON document), a status line that
counts down and goes on a terminal; the run lock's wait names the run holding it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import jsonschema

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.retry import seconds_text
from tests.cli_helpers import EXE, cli, lock_for
from tests.pty_run import on_terminal, replay

FOLDER = "/Fermentrack Backups"
SCHEMAS = Path(__file__).resolve().parent.parent / "fermentrack_backup_cli" / "schemas"
RATE_HINT = (
    "hint: Dropbox limits how often an app may call it: wait a few minutes, then run again; "
    "an interrupted upload resumes where it stopped"
)
NETWORK_HINT = "check the network connection"


def archive(tmp_path: Path, day: int = 27) -> Path:
    path = tmp_path / f"2026-11-{day:02d}T03.00.00.tar.xz"
    path.write_bytes(os.urandom(1000))
    return path


def upload(path: Path, *extra: str) -> tuple[str, ...]:
    return ("upload", str(path), "--to", "dropbox", "--no-check", *extra)


def few_attempts(env: dict[str, str], attempts: int = 3) -> None:
    """Fewer attempts per request, so a give-up comes within seconds."""
    result = cli("config", "set", "upload.max_attempts", str(attempts), env=env)
    assert result.returncode == 0, result.stderr


def completed_line(path: Path) -> str:
    return f"completed: {path.name} -> {FOLDER}/{path.name} (1000 B"


# piped: one line per wait ----------------------------------------------------------------


def test_a_rate_limit_is_one_line_per_wait_on_piped_stderr_and_the_upload_completes(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path)
    fake_dropbox.inject("files/upload", "429", times=2, retry_after=2)
    started = time.monotonic()
    result = cli(*upload(path), env=dropbox_env)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    # the countdown is a terminal's: piped, each wait is its first line only
    assert result.stderr == (
        "rate limited by Dropbox, retrying in 2 s (attempt 2 of 6)\n"
        "rate limited by Dropbox, retrying in 2 s (attempt 3 of 6)\n"
    )
    assert result.stdout.startswith(completed_line(path)), result.stdout
    assert elapsed >= 4, "both Retry-After waits were honoured"
    assert len(fake_dropbox.requests_to("files/upload")) == 3
    assert fake_dropbox.read_file(f"{FOLDER}/{path.name}") == path.read_bytes()


def test_quiet_shows_no_wait(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path)
    fake_dropbox.inject("files/upload", "429", retry_after=1)
    result = cli(*upload(path, "--quiet"), env=dropbox_env)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert len(fake_dropbox.requests_to("files/upload")) == 2  # it did wait and retry


def test_with_json_the_wait_is_on_stderr_and_stdout_stays_one_document(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path)
    fake_dropbox.inject("files/upload", "429", retry_after=1)
    result = cli(*upload(path, "--json"), env=dropbox_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "rate limited by Dropbox, retrying in 1 s (attempt 2 of 6)\n"
    document = json.loads(result.stdout)  # the whole of stdout is the one document
    schema = json.loads((SCHEMAS / "upload.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    assert [u["status"] for u in document["uploads"]] == ["completed"]


def test_a_server_error_is_a_backoff_line_naming_it(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path)
    fake_dropbox.inject("files/upload", "503")
    result = cli(*upload(path), env=dropbox_env)
    assert result.returncode == 0, result.stderr
    # no Retry-After: a jittered backoff of up to 1 s before the second attempt
    assert re.fullmatch(
        r"server error at Dropbox, retrying in (0\.\d|1) s \(attempt 2 of 6\)\n", result.stderr
    ), result.stderr
    assert result.stdout.startswith(completed_line(path)), result.stdout


def test_a_wait_under_a_second_never_reads_one_point_zero() -> None:
    assert [seconds_text(s) for s in (0.04, 0.94, 0.96, 1.0, 2.4, 725)] == [
        "0.0 s",
        "0.9 s",
        "1 s",
        "1 s",
        "2 s",
        "12 min 5 s",
    ]


# the run lock ----------------------------------------------------------------------------


def test_a_held_lock_names_its_holder_while_waiting_then_the_upload_goes_on(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(label="brewery-nas", store="file")
    path = archive(tmp_path)
    holder = lock_for("brewery-nas")
    with holder:  # this test process holds it: its pid is the holder's
        proc = subprocess.Popen(
            [EXE, *upload(path, "--lock-timeout", "5")],
            env=dropbox_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        first = proc.stderr.readline()  # written when the wait starts
    out, rest = proc.communicate(timeout=60)
    assert first == (
        f"waiting for the run holding the lock (brewery-nas, pid {os.getpid()}), for up to 5 s\n"
    )
    assert proc.returncode == 0, first + rest
    assert rest == ""  # one line per wait, none when it ends
    assert out.startswith(completed_line(path)), out


def test_a_lock_held_past_the_timeout_exits_locked_with_a_hint(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(label="brewery-nas", store="file")
    path = archive(tmp_path)
    holder = lock_for("brewery-nas")
    with holder:
        started = time.monotonic()
        result = cli(*upload(path, "--lock-timeout", "2"), env=dropbox_env)
        elapsed = time.monotonic() - started
    who = f"brewery-nas, pid {os.getpid()}"
    assert result.returncode == errors.ExitCode.LOCKED, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"waiting for the run holding the lock ({who}), for up to 2 s"
    assert lines[1].startswith(f"error: another fermentrack-backup run ({who}) holds the lock")
    assert lines[2] == (
        "hint: wait for it to finish, then run again (this run waited 2 s; "
        "`upload --lock-timeout SECONDS` waits longer)"
    )
    assert 2 <= elapsed < 30, elapsed
    assert fake_dropbox.requests_to("files/upload") == []


# give-ups name their cause ---------------------------------------------------------------


def failure(path: Path, what: str) -> str:
    """A per-file failure's line: its name is in the message, so it is not repeated."""
    assert path.name in what
    return f"error: gave up {what}"


SUMMARY = [
    "error: 1 of 1 archive(s) failed",
    "hint: fix the errors above and run again: archives stored already are skipped",
]


def test_a_rate_limit_that_never_ends_gives_up_with_a_rate_limit_hint(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    few_attempts(dropbox_env)
    path = archive(tmp_path)
    fake_dropbox.inject("files/upload", "429", times=100, retry_after=1)
    result = cli(*upload(path), env=dropbox_env)
    assert result.returncode == errors.ExitCode.NETWORK, result.stderr
    lines = result.stderr.splitlines()
    # Retry-After: 1, or the backoff when it is longer (attempt 3)
    assert [re.sub(r"in [12] s", "in N s", line) for line in lines] == [
        "rate limited by Dropbox, retrying in N s (attempt 2 of 3)",
        "rate limited by Dropbox, retrying in N s (attempt 3 of 3)",
        f"{failure(path, f'uploading {path.name}')} after 3 attempts: still rate limited by "
        f"Dropbox (Dropbox rate limit (too_many_requests) while {FOLDER}/{path.name})",
        RATE_HINT,
        *SUMMARY,
    ]
    assert NETWORK_HINT not in result.stderr


def test_server_errors_that_never_end_give_up_pointing_at_the_status_page(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    few_attempts(dropbox_env)
    path = archive(tmp_path)
    fake_dropbox.inject("files/upload", "500", times=100)
    result = cli(*upload(path), env=dropbox_env)
    assert result.returncode == errors.ExitCode.NETWORK, result.stderr
    lines = result.stderr.splitlines()
    assert [re.sub(r"in (0\.\d|1|2) s", "in N s", line) for line in lines[:2]] == [
        "server error at Dropbox, retrying in N s (attempt 2 of 3)",
        "server error at Dropbox, retrying in N s (attempt 3 of 3)",
    ], lines
    assert lines[2:] == [
        f"{failure(path, f'uploading {path.name}')} after 3 attempts: Dropbox kept answering "
        f"with a server error (Dropbox server error 500 while {FOLDER}/{path.name})",
        "hint: the trouble is on Dropbox's side: check https://status.dropbox.com, then run "
        "again later; an interrupted upload resumes where it stopped",
        *SUMMARY,
    ]
    assert NETWORK_HINT not in result.stderr


def test_a_refused_connection_gives_up_with_the_network_hint(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    few_attempts(dropbox_env)
    path = archive(tmp_path)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = {k: f"127.0.0.1:{port}" for k in fake_dropbox.env() if k.endswith("_HOST")}
    result = cli(*upload(path), env={**dropbox_env, **closed})
    assert result.returncode == errors.ExitCode.NETWORK, result.stderr
    lines = result.stderr.splitlines()
    assert [re.sub(r"in (0\.\d|1|2) s", "in N s", line) for line in lines[:2]] == [
        "connection to Dropbox failed, retrying in N s (attempt 2 of 3)",
        "connection to Dropbox failed, retrying in N s (attempt 3 of 3)",
    ], lines
    assert lines[2:] == [
        f"error: gave up listing {FOLDER} after 3 attempts: could not connect to Dropbox "
        f"while listing {FOLDER} (connection refused)",
        "hint: check the network connection (can this machine reach Dropbox?), then run "
        "again; an interrupted upload resumes where it stopped",
    ]
    assert "rate limit" not in result.stderr and "status.dropbox.com" not in result.stderr


def test_a_retry_after_beyond_the_budget_gives_up_at_once_without_sleeping_it(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path)
    fake_dropbox.inject("files/upload", "429", retry_after=30)
    started = time.monotonic()
    result = cli(*upload(path, "--max-duration", "8s"), env=dropbox_env)
    elapsed = time.monotonic() - started
    assert result.returncode == errors.ExitCode.NETWORK, result.stderr
    assert elapsed < 8, f"it slept before giving up: {elapsed:.1f} s"
    lines = result.stderr.splitlines()
    assert re.fullmatch(
        re.escape(
            f"{failure(path, f'uploading {path.name}')}: Dropbox asked to wait 30 s "
            "(Retry-After) but only "
        )
        + r"[1-8] s"
        + re.escape(" of the time budget (--max-duration 8s) remain"),
        lines[0],
    ), lines  # no wait line before it: there was no wait
    assert lines[1:] == [
        "hint: run again in 30 s or later, or raise --max-duration above it; an interrupted "
        "upload resumes where it stopped",
        *SUMMARY,
    ]
    assert len(fake_dropbox.requests_to("files/upload")) == 1


def test_a_used_up_budget_says_so_not_the_network(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path)
    fake_dropbox.inject("files/upload", "stall", times=100)
    result = cli(*upload(path, "--max-duration", "3s"), env=dropbox_env)
    fake_dropbox.clear_faults()
    assert result.returncode == errors.ExitCode.NETWORK, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [  # once: the run stops there, the boundary reports it alone
        f"{failure(path, f'uploading {path.name}')}: the time budget of this run "
        "(--max-duration 3s) is used up",
        "hint: run again later (an interrupted upload resumes where it stopped), or raise "
        "--max-duration (upload.max_duration)",
    ]
    assert NETWORK_HINT not in result.stderr and "connection lost" not in result.stderr


def others_have_open(path: Path) -> bool:
    """Whether another process has `path` open (the CLI waiting for the lock)."""
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        if fd_dir.parent.name == str(os.getpid()):
            continue
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                return True
        except OSError:  # gone, or not ours to read
            continue
    return False


# on a terminal: one status line that counts down and goes ---------------------------------


def test_on_a_terminal_a_wait_is_one_status_line_that_counts_down_and_goes(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path)
    fake_dropbox.inject("files/list_folder", "429", retry_after=2)  # before the bar
    fake_dropbox.inject("files/upload", "429", retry_after=2)  # under the bar
    code, output = on_terminal(*upload(path), env=dropbox_env, columns=80)
    assert code == 0, output
    screen, most = replay(output, 80, watch="rate limited by Dropbox")
    assert most == 1, f"the wait piled up lines: {output!r}"
    for left in (2, 1):  # it counts down, in place
        assert f"rate limited by Dropbox, retrying in {left} s (attempt 2 of 6)" in output
    # what stays: the finished bar and the result, nothing of the waits or a cut bar row
    shown = [re.sub(r", [0-9.]+ [KM]iB/s\)", ", RATE)", line) for line in screen if line]
    assert shown == [
        f"{path.name} " + "━" * 27 + " 100% 1000/1000 B  0:00:00",
        f"completed: {path.name} (1000 B, RATE) uploaded",
        f"  -> /Fermentrack Backups/{path.name}",
    ], screen
    # while waiting under the bar, the bar's row stayed whole on its one line
    assert "…" not in output, output


def test_on_a_terminal_the_lock_wait_names_its_holder_counts_down_and_goes(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    import threading

    make_dropbox_conn(label="brewery-nas", store="file")
    path = archive(tmp_path)
    holder = lock_for("brewery-nas").__enter__()

    def release_once_waited_for() -> None:
        deadline = time.monotonic() + 30
        while not others_have_open(holder.path) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.5)  # long enough to count down a second
        holder.__exit__(None, None, None)

    release = threading.Thread(target=release_once_waited_for)
    release.start()
    try:
        code, output = on_terminal(*upload(path, "--lock-timeout", "20"), env=dropbox_env)
    finally:
        release.join()
    assert code == 0, output
    waiting = f"waiting for the run holding the lock (brewery-nas, pid {os.getpid()})"
    screen, most = replay(output, 80, watch=waiting)
    assert most == 1, f"the wait piled up lines: {output!r}"
    assert f"{waiting}, for up to 20 s" in output
    assert f"{waiting}, for up to 19 s" in output  # counting down
    assert not any(waiting in line for line in screen), screen  # gone once the lock was free
    assert f"  -> /Fermentrack Backups/{path.name}" in screen, screen


def test_each_retry_cause_has_its_own_wait_line() -> None:
    from fermentrack_backup_cli.retry import RetryPolicy

    policy = RetryPolicy(service="Dropbox")
    reasons = {
        code: policy.reason(errors.Transient("x", "y", code=code))
        for code in ("too_many_requests", "server_error", "stalled", "network")
    }
    assert reasons == {
        "too_many_requests": "rate limited by Dropbox",
        "server_error": "server error at Dropbox",
        "stalled": "no answer from Dropbox",  # not "connection failed": it connected
        "network": "connection to Dropbox failed",
    }
