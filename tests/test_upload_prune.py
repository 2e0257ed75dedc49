"""`upload --prune`: the nightly one-liner applies the configured retention after success only."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run, run_json
from tests.samples import flip_byte, make_backup


def nightly(folder: Path, days: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    start = datetime(2026, 11, 1, 3)
    return [make_backup(folder, start + timedelta(days=i), rows=5) for i in range(days)]


def stored(dest: Path) -> list[str]:
    return sorted(p.name for p in (dest / "Fermentrack Backups").iterdir())


def test_prune_after_a_successful_upload_keeps_what_the_policy_says(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    archives = nightly(src, 10)
    (dest / "Fermentrack Backups").mkdir(parents=True)
    (dest / "Fermentrack Backups" / "notes.txt").write_text("not a backup")
    assert run("config", "set", "retention.keep_last", "3").exit_code == 0
    result = run("upload", str(src), "--to", f"local:{dest}", "--prune")
    assert result.exit_code == 0, result.output
    assert stored(dest) == sorted([a.name for a in archives[-3:]] + ["notes.txt"])
    deletions = [r for r in run_json("uploads", "--limit", "100") if r["action"] == "delete"]
    assert len(deletions) == 7


def test_prune_json_reports_uploads_and_the_prune_plan(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
    nightly(src, 4)
    run("config", "set", "retention.keep_daily", "2")
    data = run_json("upload", str(src), "--to", f"local:{dest}", "--prune", "--mkdir")
    assert {r["status"] for r in data["uploads"]} == {"completed"}
    assert "prune" in data


def test_no_prune_after_a_failed_upload(tmp_path: Path) -> None:
    src, dest = tmp_path / "backups", tmp_path / "dest"
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
    nightly(src, 2)
    result = run("upload", str(src), "--to", f"local:{dest}", "--prune", "--mkdir")
    assert result.exit_code == ExitCode.USAGE
    assert "no retention policy" in result.stderr
    assert "retention.keep_daily" in result.stderr
    assert len(stored(dest)) == 2  # the uploads themselves went through
