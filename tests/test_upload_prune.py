"""`upload --prune`: the nightly one-liner applies the configured retention after success
only, and never uploads what that retention would delete at once (no churn)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.config import DEFAULT_REMOTE_FOLDER
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import cli, history, run, run_json
from tests.samples import flip_byte, make_backup

FOLDER = DEFAULT_REMOTE_FOLDER.strip("/")


def nightly(folder: Path, days: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    start = datetime(2026, 11, 1, 3)
    return [make_backup(folder, start + timedelta(days=i), rows=5) for i in range(days)]


def recent_nights(folder: Path, days: int) -> list[Path]:
    """One backup at 03:00 for each of the last `days` nights, oldest first (real clock:
    `--keep-within` counts back from now)."""
    last = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    if last > datetime.now(UTC):
        last -= timedelta(days=1)
    return [make_backup(folder, last - timedelta(days=d), rows=5) for d in reversed(range(days))]


def stored(dest: Path) -> list[str]:
    return sorted(p.name for p in (dest / FOLDER).iterdir())


@dataclass
class Target:
    """A target as `--to` names it, with what is stored there and what reached it."""

    to: str
    root: Path | None = None
    fake: Any = None

    def names(self) -> list[str]:
        if self.fake is not None:
            return sorted(p.rsplit("/", 1)[1] for p in self.fake.file_paths())
        assert self.root is not None
        return stored(self.root)

    def upload_requests(self) -> int:
        """Requests that carried archive bytes (the fake only; a folder has no wire)."""
        assert self.fake is not None
        return sum(1 for q in self.fake.requests if q.route.startswith("files/upload"))


@pytest.fixture(params=["local", "dropbox"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "local":
        root = tmp_path / "usb"
        root.mkdir()
        return Target(f"local:{root}", root=root)
    fake = request.getfixturevalue("fake_dropbox")
    request.getfixturevalue("make_dropbox_conn")(label="dropbox")
    return Target("dropbox", fake=fake)


# ------------------------------------------------------------------------------- no churn


def test_the_readme_cron_line_twice_uploads_nothing_the_second_time(
    target: Target, tmp_path: Path
) -> None:
    """The issue's trial: the policy excludes the older archives in Fermentrack's folder;
    they used to be uploaded and deleted again every night."""
    src = tmp_path / "backups"
    archives = recent_nights(src, 10)
    assert run("config", "set", "retention.keep_daily", "3").exit_code == 0
    first = run_json("upload", str(src), "--to", target.to, "--prune", "--quiet")
    by_name = {Path(r["path"]).name: r for r in first["uploads"]}
    assert [by_name[a.name]["status"] for a in archives] == ["skipped"] * 7 + ["completed"] * 3
    assert {by_name[a.name]["message"] for a in archives[:7]} == {"outside retention"}
    assert all(by_name[a.name]["remote_path"] is None for a in archives[:7])
    assert first["prune"]["removed"] == [] and first["prune"]["deleted"] == []
    assert target.names() == sorted(a.name for a in archives[-3:])
    sent = target.upload_requests() if target.fake is not None else None
    rows_before = len(history())

    second = run_json("upload", str(src), "--to", target.to, "--prune", "--quiet")
    statuses = [r["status"] for r in second["uploads"]]
    assert statuses == ["skipped"] * 10
    messages = [r["message"] for r in second["uploads"]]
    assert messages == ["outside retention"] * 7 + ["already uploaded"] * 3
    assert second["prune"]["deleted"] == []
    assert target.names() == sorted(a.name for a in archives[-3:])
    new_rows = history()[: len(history()) - rows_before]
    assert {(r.action, r.status) for r in new_rows} == {("upload", "skipped")}  # no deletions
    if target.fake is not None:
        assert target.upload_requests() == sent  # not one byte sent the second night
        assert not target.fake.requests_to("files/delete_batch")


def test_a_new_nightly_archive_is_uploaded_and_the_oldest_kept_one_deleted(
    target: Target, tmp_path: Path
) -> None:
    src = tmp_path / "backups"
    archives = nightly(src, 4)
    run("config", "set", "retention.keep_last", "3")
    assert run("upload", str(src), "--to", target.to, "--prune").exit_code == 0
    assert target.names() == sorted(a.name for a in archives[1:])
    tonight = make_backup(src, datetime(2026, 11, 5, 3), rows=5)
    result = run_json("upload", str(src), "--to", target.to, "--prune")
    assert {Path(r["path"]).name: r["status"] for r in result["uploads"]}[tonight.name] == (
        "completed"
    )
    assert result["prune"]["deleted"] == [archives[1].name]
    assert target.names() == sorted([archives[2].name, archives[3].name, tonight.name])


def test_outside_retention_is_one_plain_line_and_a_skipped_history_row(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    dest.mkdir()
    archives = nightly(src, 3)
    run("config", "set", "retention.keep_last", "1")
    result = run("upload", str(src), "--to", f"local:{dest}", "--prune")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for old in archives[:2]:
        assert f"skipped: {old.name} (outside retention)" in lines
    assert any(line.startswith(f"completed: {archives[2].name} -> ") for line in lines)
    rows = {Path(r.local_path).name: r for r in history() if r.action == "upload"}
    for old in archives[:2]:
        row = rows[old.name]
        assert (row.status, row.error_message, row.remote_path) == (
            "skipped",
            "outside retention",
            None,
        )
        assert row.size == old.stat().st_size
    known = {
        b["name"]: b["known"] for b in run_json("remote", "ls", "--to", f"local:{dest}")["backups"]
    }
    assert known == {archives[2].name: True}


def test_without_prune_a_configured_policy_changes_nothing(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    dest.mkdir()
    archives = nightly(src, 5)
    run("config", "set", "retention.keep_last", "1")
    data = run_json("upload", str(src), "--to", f"local:{dest}")["uploads"]
    assert [r["status"] for r in data] == ["completed"] * 5
    assert stored(dest) == sorted(a.name for a in archives)


def test_the_cron_line_as_cron_runs_it_twice_stores_and_deletes_nothing_new(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    dest.mkdir()
    archives = recent_nights(src, 8)
    old = make_backup(src, datetime.now(UTC) - timedelta(days=90), rows=5)
    set_policy = cli("config", "set", "retention.keep_within", "30d", env=subprocess_env)
    assert set_policy.returncode == 0, set_policy.stderr
    line = ("upload", str(src), "--to", f"local:{dest}", "--prune", "--quiet")
    first = cli(*line, env=subprocess_env)
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
    assert stored(dest) == sorted(a.name for a in archives)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (dest / FOLDER).iterdir()}
    second = cli(*line, env=subprocess_env)
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert {p.name: p.stat().st_mtime_ns for p in (dest / FOLDER).iterdir()} == mtimes
    verbose = cli(*line[:-1], env=subprocess_env)
    assert verbose.returncode == 0
    assert f"skipped: {old.name} (outside retention)" in verbose.stdout.splitlines()
    assert "removed 0 backup(s)" in verbose.stderr


# ------------------------------------------------------------------ when prune runs at all


def test_prune_after_a_successful_upload_keeps_what_the_policy_says(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    archives = nightly(src, 10)
    (dest / FOLDER).mkdir(parents=True)
    (dest / FOLDER / "notes.txt").write_text("not a backup")
    assert run("upload", *map(str, archives[:8]), "--to", f"local:{dest}").exit_code == 0
    assert run("config", "set", "retention.keep_last", "3").exit_code == 0
    result = run("upload", str(src), "--to", f"local:{dest}", "--prune")
    assert result.exit_code == 0, result.output
    assert stored(dest) == sorted([a.name for a in archives[-3:]] + ["notes.txt"])
    deletions = [
        r for r in run_json("uploads", "--limit", "100")["uploads"] if r["action"] == "delete"
    ]
    assert len(deletions) == 7


def test_prune_json_reports_uploads_and_the_prune_plan(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    dest.mkdir()
    nightly(src, 4)
    run("config", "set", "retention.keep_daily", "2")
    data = run_json("upload", str(src), "--to", f"local:{dest}", "--prune")
    assert [r["status"] for r in data["uploads"]] == [
        "skipped",
        "skipped",
        "completed",
        "completed",
    ]
    assert set(data["prune"]) >= {"kept", "removed", "left_alone", "deleted", "failed"}
    assert len(data["prune"]["kept"]) == 2


def test_no_prune_after_a_failed_upload(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    dest.mkdir()
    archives = nightly(src, 5)
    run("config", "set", "retention.keep_last", "1")
    run("upload", str(src), "--to", f"local:{dest}", "--mkdir")
    newest = make_backup(src, datetime(2026, 12, 1, 3), rows=5)
    flip_byte(newest, newest.stat().st_size // 2)
    result = run("upload", str(src), "--to", f"local:{dest}", "--prune")
    assert result.exit_code == ExitCode.VERIFY
    assert stored(dest) == sorted(a.name for a in archives)


def test_prune_without_a_policy_is_a_loud_usage_error(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    dest.mkdir()
    nightly(src, 2)
    result = run("upload", str(src), "--to", f"local:{dest}", "--prune", "--mkdir")
    assert result.exit_code == ExitCode.USAGE
    assert "no retention policy" in result.stderr
    assert "retention.keep_daily" in result.stderr
    assert len(stored(dest)) == 2  # the uploads themselves went through


def test_newer_archives_that_fail_do_not_keep_sound_older_ones_out_of_retention(
    tmp_path: Path,
) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    dest.mkdir()
    archives = nightly(src, 7)
    for broken in archives[-2:]:  # the two newest cut short: Fermentrack killed mid-write
        broken.write_bytes(broken.read_bytes()[:200])
    run("config", "set", "retention.keep_last", "2")
    data = run_json("upload", str(src), "--to", f"local:{dest}", "--prune")["uploads"]
    by_name = {Path(r["path"]).name: r for r in data}
    assert [by_name[a.name]["status"] for a in archives] == [
        "skipped",
        "skipped",
        "skipped",
        "completed",
        "completed",
        "failed",
        "failed",
    ]
    assert [r["path"] for r in data] == [str(a) for a in archives]  # in the given order
    assert stored(dest) == [a.name for a in archives[3:5]]
