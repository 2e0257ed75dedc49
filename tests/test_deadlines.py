"""--max-duration bounds the whole run, against servers that stall, trickle or rate-limit.

The installed CLI runs as cron runs it, against the fake Dropbox over real HTTPS.
Each run must end by itself (the subprocess timeout is the "does not hang" bound,
generous on purpose); the measured wall time is in every assertion message.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.retry import Deadline, RetryPolicy
from tests.cli_helpers import cli, history, target_of

MIB = 1024 * 1024
FOLDER = "/Fermentrack Backups"
HANG = 40.0  # seconds: far above a 10 s budget, far below the 62 s / unbounded of the bug


def timed(*args: str, env: dict[str, str]) -> tuple[Any, float]:
    started = time.monotonic()
    result = cli(*args, env=env, timeout=HANG)
    return result, time.monotonic() - started


def archive(tmp_path: Path, size: int, name: str = "2026-11-27T03.00.00.tar.xz") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def upload(path: Path, *extra: str) -> tuple[str, ...]:
    """A sequential upload session in 4 MiB requests (these tests count its offsets; a
    test that wants concurrency passes its own --parallel, which argparse-style wins)."""
    parallel = () if "--parallel" in extra else ("--parallel", "1")
    return (
        "upload",
        str(path),
        "--to",
        "dropbox",
        "--no-check",
        "--chunk-size",
        "4",
        *parallel,
        *extra,
    )


def test_upload_against_a_stalled_server_ends_at_the_max_duration_and_resumes_later(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path, 3 * 4 * MIB + 7)
    fake_dropbox.inject("files/upload_session/append_v2", "stall")
    result, elapsed = timed(*upload(path, "--max-duration", "10s"), env=dropbox_env)
    note = f"after {elapsed:.1f} s: {result.stderr}"
    assert result.returncode == errors.ExitCode.NETWORK, note
    assert "time budget of this run (--max-duration 10s) is used up" in result.stderr, note
    assert "connection lost" not in result.stderr, note
    assert "Traceback" not in result.stderr
    (row,) = history()
    assert (row.status, row.error_code) == ("failed", "max_duration_exceeded")

    fake_dropbox.clear_faults()
    again = cli(*upload(path, "--json"), env=dropbox_env)
    assert again.returncode == 0, again.stderr
    (done,) = json.loads(again.stdout)["uploads"]
    assert done["resumed_from"] == 4 * MIB  # the session of the cut run went on
    assert fake_dropbox.read_file(f"{FOLDER}/{path.name}") == path.read_bytes()


def test_a_run_whose_budget_ran_out_does_not_go_on_to_check_the_next_archives(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    first = archive(tmp_path, 3 * 4 * MIB + 7, "2026-11-27T03.00.00.tar.xz")
    archive(tmp_path, 5 * MIB, "2026-11-28T03.00.00.tar.xz")
    fake_dropbox.inject("files/upload_session/append_v2", "stall")
    result, elapsed = timed(
        "upload",
        str(first.parent),
        "--to",
        "dropbox",
        "--no-check",
        "--chunk-size",
        "4",
        "--max-duration",
        "10s",
        env=dropbox_env,
    )
    note = f"after {elapsed:.1f} s: {result.stderr}"
    assert result.returncode == errors.ExitCode.NETWORK, note
    rows = history()
    assert [(r.status, r.error_code) for r in rows] == [
        ("failed", "max_duration_exceeded"),
        ("failed", "max_duration_exceeded"),
    ], note
    assert rows[0].size is None, "the second archive was not even read once the budget was gone"


def test_upload_against_a_trickling_server_is_cut_at_the_max_duration(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path, 3 * 4 * MIB + 7)
    # a byte every 2 s: no read timeout ever trips, the answer would take minutes
    fake_dropbox.inject("files/upload_session/append_v2", "trickle", interval=2, part="headers")
    result, elapsed = timed(*upload(path, "--max-duration", "10s"), env=dropbox_env)
    note = f"after {elapsed:.1f} s: {result.stderr}"
    assert result.returncode == errors.ExitCode.NETWORK, note
    assert "(--max-duration 10s) is used up" in result.stderr, note
    assert [(r.status, r.error_code) for r in history()] == [("failed", "max_duration_exceeded")]

    fake_dropbox.clear_faults()
    again = cli(*upload(path, "--json"), env=dropbox_env)
    assert again.returncode == 0, again.stderr
    # the trickled append was carried out: the server's offset is ahead of the record
    assert json.loads(again.stdout)["uploads"][0]["resumed_from"] == 8 * MIB
    assert fake_dropbox.read_file(f"{FOLDER}/{path.name}") == path.read_bytes()


def test_a_trickling_listing_is_cut_and_every_file_of_the_run_is_recorded_failed(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    archive(tmp_path, 1000, "2026-11-26T03.00.00.tar.xz")
    archive(tmp_path, 1000, "2026-11-27T03.00.00.tar.xz")
    fake_dropbox.inject("files/list_folder", "trickle", interval=1)
    args = ("upload", str(tmp_path), "--to", "dropbox", "--no-check", "--max-duration", "4s")
    result, elapsed = timed(*args, env=dropbox_env)
    note = f"after {elapsed:.1f} s: {result.stderr}"
    assert result.returncode == errors.ExitCode.NETWORK, note
    assert "gave up listing" in result.stderr, note
    assert [r.error_code for r in history()] == ["max_duration_exceeded"] * 2
    assert fake_dropbox.requests_to("files/upload") == []


def test_a_stalled_token_refresh_ends_at_the_max_duration(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path, 1000)
    fake_dropbox.inject("oauth2/token", "stall")
    result, elapsed = timed(*upload(path, "--max-duration", "4s"), env=dropbox_env)
    note = f"after {elapsed:.1f} s: {result.stderr}"
    assert result.returncode == errors.ExitCode.NETWORK, note
    assert "(--max-duration 4s) is used up" in result.stderr, note


def test_parallel_workers_blocked_on_a_stalled_server_end_at_the_max_duration(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path, 8 * 4 * MIB)
    fake_dropbox.inject("files/upload_session/append_v2", "stall", times=100)
    args = upload(path, "--parallel", "4", "--max-duration", "5s")
    result, elapsed = timed(*args, env=dropbox_env)
    note = f"after {elapsed:.1f} s: {result.stderr}"
    assert result.returncode == errors.ExitCode.NETWORK, note
    assert "(--max-duration 5s) is used up" in result.stderr, note
    assert history()[0].error_code == "max_duration_exceeded"
    assert len(fake_dropbox.requests_to("files/upload_session/append_v2")) == 4  # in flight


def test_a_retry_after_longer_than_the_budget_left_fails_at_once_and_says_so(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path, 1000)
    fake_dropbox.inject("files/upload", "429", retry_after=120)
    result, elapsed = timed(*upload(path, "--max-duration", "10s"), env=dropbox_env)
    note = f"after {elapsed:.1f} s: {result.stderr}"
    assert result.returncode == errors.ExitCode.NETWORK, note
    (line,) = [x for x in result.stderr.splitlines() if "Retry-After" in x]
    assert f"gave up uploading {path.name}: Dropbox asked to wait 120 s (Retry-After)" in line
    assert "s of the time budget (--max-duration 10s) remain" in line
    assert "run again in 120 s or later, or raise --max-duration above it" in result.stderr
    assert history()[0].error_code == "retry_after_exceeds_budget"
    assert len(fake_dropbox.requests_to("files/upload")) == 1  # no second try


def test_a_retry_after_within_the_budget_is_still_honoured(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path, 1000)
    fake_dropbox.inject("files/upload", "429", retry_after=1)
    result = cli(*upload(path, "--max-duration", "1m"), env=dropbox_env)
    assert result.returncode == 0, result.stderr
    assert len(fake_dropbox.requests_to("files/upload")) == 2


def test_status_reports_an_answer_the_sdk_cannot_read_as_a_clean_problem(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str]
) -> None:
    make_dropbox_conn(store="file")
    fake_dropbox.inject("users/get_space_usage", "malformed")
    result = cli("status", env=dropbox_env)
    out = result.stdout + result.stderr
    assert "unexpected" not in out and "Traceback" not in out, out
    assert "Dropbox sent an answer that cannot be read while reading space usage" in out
    assert "HTTPS_PROXY" in out  # the hint
    assert result.returncode == errors.ExitCode.UNHEALTHY

    fake_dropbox.inject("users/get_space_usage", "malformed")
    data = json.loads(cli("status", "--json", env=dropbox_env).stdout)
    assert "bad_response" in json.dumps(data)


def test_a_malformed_listing_fails_an_upload_with_one_error_and_hint(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_dropbox_conn(store="file")
    path = archive(tmp_path, 1000)
    fake_dropbox.put_file(f"{FOLDER}/2026-11-26T03.00.00.tar.xz", b"older")  # a folder to list
    fake_dropbox.inject("files/list_folder", "malformed", body={"entries": "none"})
    result = cli(*upload(path), env=dropbox_env)
    assert result.returncode == errors.ExitCode.NETWORK, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: Dropbox sent an answer that cannot be read while listing")
    assert lines[0].endswith("(at entries)")
    assert lines[1].startswith("hint: try again later")
    assert history()[0].error_code == "bad_response"


# in-process: the provider's own boundary ------------------------------------------------


@pytest.fixture
def target(fake_dropbox: Any, make_dropbox_conn: Any) -> Any:
    from fermentrack_backup_cli.core.context import Context

    conn = make_dropbox_conn()
    app = Context.create()
    yield lambda seconds: target_of(
        app, conn, RetryPolicy(max_attempts=3, deadline=Deadline.after(seconds, "2s"))
    )
    app.close()


def test_every_target_of_one_run_shares_the_deadline_counted_from_the_run_start(
    make_dropbox_conn: Any,
) -> None:
    from fermentrack_backup_cli.core.context import Context

    conn = make_dropbox_conn()
    app = Context.create()
    app.settings.overrides["upload.max_duration"] = "10s"
    first = target_of(app, conn)  # the upload's
    time.sleep(0.01)
    second = target_of(app, conn)  # `upload --prune`'s, built later in the same run
    app.close()
    assert first.retry.deadline == second.retry.deadline == Deadline(app.started + 10, "10s")


def test_a_trickling_download_body_is_cut_at_the_deadline(fake_dropbox: Any, target: Any) -> None:
    fake_dropbox.put_file(f"{FOLDER}/big.tar.xz", os.urandom(2 * MIB))
    dbx = target(2)
    fake_dropbox.inject("files/download", "trickle", interval=0.5)
    with dbx.open_read("big.tar.xz") as stream, pytest.raises(errors.MaxDurationExceeded) as exc:
        stream.read()
    assert exc.value.message == (
        f"gave up downloading {FOLDER}/big.tar.xz: the time budget of this run "
        "(--max-duration 2s) is used up"
    )


def test_no_request_starts_once_the_deadline_has_passed(fake_dropbox: Any, target: Any) -> None:
    dbx = target(0)
    with pytest.raises(errors.MaxDurationExceeded):
        dbx.space()
    assert fake_dropbox.requests == []


def test_the_deadline_clips_every_timeout_the_sdk_asks_for() -> None:
    from fermentrack_backup_cli.providers.dropbox.transport import DeadlineAdapter

    adapter = DeadlineAdapter(Deadline.after(5, "5s"), None)
    connect, read = adapter.clip(60.0)
    assert 0 < connect <= 5 and 0 < read <= 5
    assert adapter.clip((1.0, 60.0))[0] == 1.0
    assert DeadlineAdapter(None, None).clip(60.0) == 60.0
    assert RetryPolicy.for_duration(3, float("inf")).deadline is None  # unbounded, no watchdog


# the policy: pure, with an injected sleep ----------------------------------------------


def policy(seconds: float, slept: list[float]) -> RetryPolicy:
    return RetryPolicy(max_attempts=5, deadline=Deadline.after(seconds, "10s"), sleep=slept.append)


def test_a_request_that_fails_after_the_deadline_reports_the_budget_not_the_network() -> None:
    slept: list[float] = []
    retry = policy(0.05, slept)

    def cut() -> None:
        while not retry.deadline.expired():  # type: ignore[union-attr]
            time.sleep(0.01)
        raise errors.Transient("connection lost while uploading x", code="network")

    with pytest.raises(errors.MaxDurationExceeded) as exc:
        retry.call(cut, "uploading x")
    assert exc.value.message == (
        "gave up uploading x: the time budget of this run (--max-duration 10s) is used up"
    )
    assert exc.value.exit_code == errors.ExitCode.NETWORK
    assert slept == []


def test_a_retry_after_beyond_the_budget_fails_without_waiting() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def limited() -> None:
        calls.append(1)
        raise errors.Transient("rate limited", retry_after=120.0)

    with pytest.raises(errors.RetryAfterExceedsBudget) as exc:
        policy(10, slept).call(limited, "uploading x")
    assert "asked to wait 120 s (Retry-After) but only" in exc.value.message
    assert (calls, slept) == ([1], [])


def test_a_retry_after_within_the_budget_waits_and_tries_again() -> None:
    slept: list[float] = []
    answers = iter([errors.Transient("rate limited", retry_after=2.0), None])

    def flaky() -> str:
        error = next(answers)
        if error is not None:
            raise error
        return "ok"

    assert policy(3600, slept).call(flaky, "uploading x") == "ok"
    assert slept and slept[0] >= 2.0


def test_the_watchdog_keeps_every_deadline_even_next_to_a_budget_of_centuries() -> None:
    import threading

    from fermentrack_backup_cli.providers.dropbox import transport

    class Watched(transport._Sockets):
        def __init__(self) -> None:
            super().__init__()
            self.was_cut = threading.Event()

        def cut(self) -> None:
            super().cut()
            self.was_cut.set()

    forever, first, second = Watched(), Watched(), Watched()
    transport._WATCHDOG.watch(time.monotonic() + 1000 * 365 * 86400, forever)
    transport._WATCHDOG.watch(time.monotonic() + 0.1, first)
    assert first.was_cut.wait(10)
    time.sleep(0.1)  # the watchdog now sleeps towards the far deadline
    transport._WATCHDOG.watch(time.monotonic() + 0.1, second)
    assert second.was_cut.wait(10)
    assert not forever.was_cut.is_set()


# every command is bounded, not only upload ------------------------------------------


@pytest.fixture
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> float:
    """A short per-connection check limit, so the tests need not wait a minute."""
    from fermentrack_backup_cli.core import targets

    monkeypatch.setattr(targets, "CHECK_SECONDS", 3.0)
    return 3.0


@pytest.mark.parametrize(
    ("route", "args"),
    [
        ("files/list_folder", ("status",)),
        ("oauth2/token", ("status",)),
        ("oauth2/token", ("doctor",)),
    ],
)
def test_status_and_doctor_against_a_trickling_server_end_at_the_check_limit(
    fake_dropbox: Any, make_dropbox_conn: Any, quick_checks: float, route: str, args: Any
) -> None:
    from tests.cli_helpers import run

    make_dropbox_conn(store="file")
    fake_dropbox.inject(route, "trickle", times=10, interval=1)
    started = time.monotonic()
    result = run(*args)
    elapsed = time.monotonic() - started
    assert result.exit_code == errors.ExitCode.UNHEALTHY, result.output
    assert elapsed < HANG, f"{args} took {elapsed:.1f} s"
    assert "limit of a check" in result.output
    assert "Traceback" not in result.output


def test_status_does_not_honour_a_retry_after_beyond_its_check_limit(
    fake_dropbox: Any, make_dropbox_conn: Any, quick_checks: float
) -> None:
    from tests.cli_helpers import run

    make_dropbox_conn(store="file")
    fake_dropbox.inject("users/get_current_account", "429", times=5, retry_after=3600)
    started = time.monotonic()
    result = run("status")
    assert time.monotonic() - started < HANG
    assert result.exit_code == errors.ExitCode.UNHEALTHY
    assert "asked to wait 3600 s (Retry-After)" in result.output


def test_unlink_against_a_trickling_revoke_still_unlinks_within_the_check_limit(
    fake_dropbox: Any, make_dropbox_conn: Any, quick_checks: float
) -> None:
    from tests.cli_helpers import run, run_json

    make_dropbox_conn(store="file")
    fake_dropbox.inject("auth/token/revoke", "trickle", times=10, interval=1)
    started = time.monotonic()
    result = run("unlink", "dropbox", "--yes")
    assert time.monotonic() - started < HANG
    assert result.exit_code == 0, result.output
    assert "could not revoke the token" in result.output
    assert run_json("connections")["connections"] == []


@pytest.mark.parametrize(
    "args",
    [("remote", "ls", "--to", "dropbox"), ("prune", "--to", "dropbox", "--keep-last", "1")],
)
def test_remote_ls_and_prune_against_a_trickling_listing_end_at_their_max_duration(
    fake_dropbox: Any, make_dropbox_conn: Any, dropbox_env: dict[str, str], args: Any
) -> None:
    make_dropbox_conn(store="file")
    fake_dropbox.inject("files/list_folder", "trickle", times=10, interval=2)
    result, elapsed = timed(*args, "--max-duration", "5s", env=dropbox_env)
    note = f"after {elapsed:.1f} s: {result.stderr}"
    assert result.returncode == errors.ExitCode.NETWORK, note
    assert "(--max-duration 5s) is used up" in result.stderr, note
