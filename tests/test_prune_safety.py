"""Prune cannot be fooled: a bogus far-future file, a Pi whose clock is wrong. Driven
through the CLI on a local folder and on the fake Dropbox, as the issue reproduced it."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.config import DEFAULT_REMOTE_FOLDER
from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.core.prune import apply_policy
from fermentrack_backup_cli.errors import ClockWrong, ExitCode
from fermentrack_backup_cli.models import iso
from fermentrack_backup_cli.retention import Policy
from tests.cli_helpers import cli, history, run, run_json
from tests.samples import make_backup

BOGUS = "2099-01-01T00.00.00.tar.xz"
FOLDER = DEFAULT_REMOTE_FOLDER.strip("/")


class Where:
    """A target as `--to` names it, and a backstage door to what it stores."""

    def __init__(self, to: str, root: Path | None = None, fake: Any = None) -> None:
        self.to, self.root, self.fake = to, root, fake

    def put(self, name: str, data: bytes) -> None:
        if self.fake is not None:
            self.fake.put_file(f"{DEFAULT_REMOTE_FOLDER}/{name}", data)
        else:
            assert self.root is not None
            (self.root / FOLDER).mkdir(parents=True, exist_ok=True)
            (self.root / FOLDER / name).write_bytes(data)

    def names(self) -> list[str]:
        if self.fake is not None:
            return sorted(p.rsplit("/", 1)[1] for p in self.fake.file_paths())
        assert self.root is not None
        return sorted(p.name for p in (self.root / FOLDER).iterdir())


@pytest.fixture(params=["local", "dropbox"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    if request.param == "local":
        root = tmp_path / "usb"
        root.mkdir()
        return Where(f"local:{root}", root=root)
    fake = request.getfixturevalue("fake_dropbox")
    request.getfixturevalue("make_dropbox_conn")(label="dropbox")
    return Where("dropbox", fake=fake)


def seven_nights(where: Where, tmp_path: Path, *, ahead: timedelta = timedelta(0)) -> list[str]:
    """The last seven nightly backups (shifted by `ahead`), uploaded with the CLI."""
    last = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0) - timedelta(days=1)
    src = tmp_path / "backups"
    paths = [make_backup(src, last + ahead - timedelta(days=d), rows=5) for d in range(7)]
    result = run("upload", *map(str, paths), "--to", where.to)
    assert result.exit_code == 0, result.output
    return [p.name for p in paths]


def shift_history(delta: timedelta) -> None:
    """Move every recorded run by `delta`: what the history looks like to a Pi whose clock
    has since gone back (a dead RTC battery, no NTP yet)."""
    app = Context.create()
    path = app.db.path
    rows = app.db.sql.execute("SELECT id, finished_at FROM uploads").fetchall()
    app.close()
    db = sqlite3.connect(path)
    with db:
        for row_id, finished in rows:
            moved = datetime.fromisoformat(finished.replace("Z", "+00:00")) + delta
            db.execute("UPDATE uploads SET finished_at = ? WHERE id = ?", (iso(moved), row_id))
    db.close()


# ------------------------------------------------------------------- a bogus far-future file


@pytest.mark.parametrize("bogus_bytes", [b"", b"not a backup, but not empty either"])
def test_a_2099_file_among_seven_real_backups_no_longer_deletes_them(
    where: Where, tmp_path: Path, bogus_bytes: bytes
) -> None:
    real = seven_nights(where, tmp_path)
    where.put(BOGUS, bogus_bytes)
    result = run("prune", "--to", where.to, "--keep-within", "30d")
    assert result.exit_code == 0, result.output
    assert where.names() == sorted([*real, BOGUS])
    assert "left alone" in result.stdout and "future-dated (2099-01-01)" in result.stdout
    assert "kept 7, removed 0 backup(s) (0 B), left alone 1" in result.stderr

    plan = run_json("prune", "--to", where.to, "--keep-within", "30d")
    assert sorted(d["name"] for d in plan["kept"]) == sorted(real)
    assert plan["removed"] == [] and plan["deleted"] == []
    (bogus,) = plan["left_alone"]
    assert bogus["name"] == BOGUS and bogus["keep"] is True
    assert "future-dated (2099-01-01)" in bogus["reasons"]
    assert ("empty (0 bytes)" in bogus["reasons"]) == (bogus_bytes == b"")


def test_the_counted_rules_ignore_a_2099_file_and_prune_the_real_backups(
    where: Where, tmp_path: Path
) -> None:
    real = seven_nights(where, tmp_path)
    where.put(BOGUS, b"x" * 100)
    plan = run_json("prune", "--to", where.to, "--keep-last", "3")
    assert [d["name"] for d in plan["kept"]] == real[:3]
    assert sorted(plan["deleted"]) == sorted(real[3:])
    assert where.names() == sorted([*real[:3], BOGUS])


# -------------------------------------------------------------------------- a wrong clock


def test_a_history_newer_than_the_clock_makes_prune_refuse_and_delete_nothing(
    where: Where, tmp_path: Path
) -> None:
    real = seven_nights(where, tmp_path)
    shift_history(timedelta(days=3))
    rows_before = len(history())
    for dry in ((), ("--dry-run",)):
        result = run("prune", "--to", where.to, "--keep-last", "1", *dry)
        assert result.exit_code == ExitCode.FAILURE
        assert "error: refusing to prune" in result.stderr
        assert "the system clock says " in result.stderr
        assert "but a backup was uploaded at " in result.stderr
        assert "hint: fix the system clock (`timedatectl" in result.stderr
        assert "Traceback" not in result.output
    error = json.loads(run("prune", "--to", where.to, "--keep-last", "1", "--json").stdout)
    assert error["error"]["code"] == "clock_wrong"
    assert where.names() == sorted(real)
    assert len(history()) == rows_before  # not even a failed deletion row


def test_one_run_while_the_clock_was_ahead_stops_blocking_prune_after_the_next_upload(
    tmp_path: Path,
) -> None:
    root = tmp_path / "usb"
    root.mkdir()
    where = Where(f"local:{root}", root=root)
    seven_nights(where, tmp_path)
    db = sqlite3.connect(Context.create().db.path)
    with db:  # the newest run happened while the Pi's clock was in 2099
        db.execute("UPDATE uploads SET finished_at = '2099-01-01T00:00:00Z' WHERE id = 7")
    db.close()
    refused = run("prune", "--to", where.to, "--keep-last", "3")
    assert refused.exit_code == ExitCode.FAILURE
    assert "the next upload to this target records the right time" in refused.stderr
    newest = make_backup(tmp_path / "backups", datetime.now(UTC), rows=5)
    assert run("upload", str(newest), "--to", where.to).exit_code == 0  # the clock is right now
    pruned = run("prune", "--to", where.to, "--keep-last", "3")
    assert pruned.exit_code == 0, pruned.output
    assert len(where.names()) == 3


def test_a_clock_reset_to_1970_names_the_evidence(tmp_path: Path) -> None:
    root = tmp_path / "usb"
    root.mkdir()
    where = Where(f"local:{root}", root=root)
    real = seven_nights(where, tmp_path)
    last = history()[0].finished_at
    app = Context.create()
    opened = app.targets.open(where.to)
    with pytest.raises(ClockWrong) as caught:
        apply_policy(
            app.targets, opened, Policy(keep_daily=3), now=datetime(1970, 1, 1, tzinfo=UTC)
        )
    app.close()
    assert caught.value.message == (
        f"refusing to prune {opened.target.description}: the system clock says "
        f"1970-01-01T00:00:00Z but a backup was uploaded at {iso(last)}; nothing was deleted"
    )
    assert caught.value.hint is not None and "then prune again" in caught.value.hint
    assert where.names() == sorted(real)


def test_every_backup_in_the_future_makes_prune_refuse_even_with_an_empty_history(
    where: Where, tmp_path: Path
) -> None:
    # as a Pi whose clock is two weeks behind sees the backups made before it went wrong
    real = seven_nights(where, tmp_path, ahead=timedelta(days=14))
    # the history agrees with the clock (uploaded just now): only the names tell
    result = run("prune", "--to", where.to, "--keep-daily", "2")
    assert result.exit_code == ExitCode.FAILURE
    assert "but 7 of the 7 backups are dated more than a day after it" in result.stderr
    assert "hint: fix the system clock" in result.stderr
    assert where.names() == sorted(real)


def test_clock_wrong_exits_1_with_one_error_and_one_hint_line_as_cron_sees_it(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    root = tmp_path / "usb"
    root.mkdir()
    where = Where(f"local:{root}", root=root)
    real = seven_nights(where, tmp_path)
    shift_history(timedelta(hours=2))
    done = cli("prune", "--to", where.to, "--keep-last", "1", env=subprocess_env)
    assert done.returncode == ExitCode.FAILURE == 1
    lines = done.stderr.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["error:", "hint:"]
    assert where.names() == sorted(real)


def test_upload_prune_on_a_wrong_clock_still_uploads_then_refuses_to_prune(
    tmp_path: Path,
) -> None:
    root = tmp_path / "usb"
    root.mkdir()
    where = Where(f"local:{root}", root=root)
    real = seven_nights(where, tmp_path)
    shift_history(timedelta(days=2))
    tonight = make_backup(tmp_path / "backups", datetime(2026, 11, 1, 3), rows=5)
    run("config", "set", "retention.keep_last", "1")
    result = run("upload", str(tmp_path / "backups"), "--to", where.to, "--prune")
    assert result.exit_code == ExitCode.FAILURE
    assert f"completed: {tonight.name}" in result.stdout  # a backup is worth more than space
    assert "the system clock says" in result.stderr
    assert where.names() == sorted([*real, tonight.name])


def test_verify_latest_picks_the_newest_real_backup_not_a_2099_file(
    where: Where, tmp_path: Path
) -> None:
    names = seven_nights(where, tmp_path)
    where.put(BOGUS, b"")
    checks = run_json("verify", "--remote", "--latest", "1", "--to", where.to)["backups"]
    assert [c["name"] for c in checks] == [max(names)]


def test_status_newest_backup_ignores_empty_and_far_future_files(tmp_path: Path) -> None:
    root = tmp_path / "usb"
    root.mkdir()
    assert run("link", "local", str(root), "--label", "usb").exit_code == 0
    where = Where("usb", root=root)
    names = seven_nights(where, tmp_path)
    where.put(BOGUS, b"")
    future = root / FOLDER / "2026-01-01T00.00.00.tar.xz"
    future.write_bytes(b"not empty")
    ahead = (datetime.now(UTC) + timedelta(days=400)).timestamp()
    import os

    os.utime(future, (ahead, ahead))
    (status,) = run_json("status", "usb")["connections"]
    assert status["stored"]["newest"] == max(names)
    assert status["stored"]["newest_age_s"] >= 0


def test_remote_ls_lists_real_backups_first_and_says_why_a_bogus_file_is_not(
    where: Where, tmp_path: Path
) -> None:
    names = seven_nights(where, tmp_path)
    where.put(BOGUS, b"")
    listed = run_json("remote", "ls", "--to", where.to)["backups"]
    assert [b["name"] for b in listed] == [*sorted(names, reverse=True), BOGUS]
    assert listed[-1]["note"] == "empty (0 bytes), future-dated (2099-01-01)"
    assert all(b["note"] is None for b in listed[:-1])
    table = run("remote", "ls", "--to", where.to)
    assert f"{BOGUS} (empty (0 bytes), future-dated (2099-01-01))" in table.stdout
