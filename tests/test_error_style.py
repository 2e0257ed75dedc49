"""One error style (issue 10): every error is `error: ...` and `hint: ...` on stderr, a
file's failure inside a multi-file run too, and each is shown once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli import errors
from tests.cli_helpers import cli, run
from tests.pty_run import on_terminal, plain
from tests.samples import SAMPLE, truncate

BAD = "2026-11-29T03.00.00.tar.xz"


def _folder(tmp_path: Path) -> Path:
    """A good archive and a truncated one."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE, src / SAMPLE.name)
    shutil.copy(SAMPLE, src / BAD)
    truncate(src / BAD, 1500)
    return src


def test_a_failed_file_in_a_folder_run_is_an_error_line_naming_it_once(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    (tmp_path / "dst").mkdir()
    result = cli("upload", str(_folder(tmp_path)), "--to", f"local:{tmp_path / 'dst'}",
                 env=subprocess_env)  # fmt: skip
    assert result.returncode == errors.ExitCode.VERIFY, result.stderr
    lines = result.stderr.splitlines()
    assert not any(line.startswith("failed:") for line in lines), lines
    (failure,) = (line for line in lines if BAD in line)
    assert failure.startswith(f"error: {BAD}: corrupt archive"), failure
    assert failure.count(BAD) == 1, failure
    assert lines[lines.index(failure) + 1].startswith("hint: the backup is damaged")
    assert lines[-2:] == [
        "error: 1 of 2 archive(s) failed",
        "hint: fix the errors above and run again: archives stored already are skipped",
    ]
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), lines


def test_an_error_that_stops_the_run_is_shown_once(
    fake_dropbox: Any, make_dropbox_conn: Any, tmp_path: Path
) -> None:
    make_dropbox_conn()
    fake_dropbox.inject("files/upload", "expired_token", times=10)  # refused after a refresh
    result = run("upload", str(_folder(tmp_path)), "--to", "dropbox", "--no-check")
    assert result.exit_code == errors.ExitCode.AUTH, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: "), lines  # not per file too
    assert lines[1].startswith("hint: ") and "link dropbox" in lines[1], lines


def test_a_summary_wider_than_the_terminal_puts_the_path_on_its_own_line(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    dst = tmp_path / ("a folder with spaces " * 3).strip()
    dst.mkdir()
    code, shown = on_terminal("upload", str(SAMPLE), "--to", f"local:{dst}",
                              env=subprocess_env, columns=80)  # fmt: skip
    assert code == 0, shown
    lines = [line for line in plain(shown) if line.strip()]
    head = next(i for i, line in enumerate(lines) if line.startswith("completed:"))
    assert lines[head].startswith(f"completed: {SAMPLE.name} (") and len(lines[head]) <= 80
    assert lines[head].endswith(") uploaded"), lines
    stored = str(dst / "Fermentrack Backups" / SAMPLE.name)
    assert lines[head + 1] == f"  -> {stored}", lines  # whole, never broken at a space


def test_a_piped_summary_stays_one_line(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    dst = tmp_path / ("a folder with spaces " * 3).strip()
    dst.mkdir()
    result = cli("upload", str(SAMPLE), "--to", f"local:{dst}", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    stored = dst / "Fermentrack Backups" / SAMPLE.name
    assert line.startswith(f"completed: {SAMPLE.name} -> {stored} (") and len(line) > 80


@pytest.mark.parametrize(
    ("args", "message", "where"),
    [
        (["upload", "--bogus"], "No such option: --bogus", "fermentrack-backup upload"),
        (["--bogus"], "No such option: --bogus", "fermentrack-backup"),
        # Click's only "possible option" for --label is --help: not a suggestion worth making
        (["upload", "--label", "x"], "No such option: --label", "fermentrack-backup upload"),
        (
            ["upload", "--paralel", "2"],
            "No such option: --paralel (Possible options: --parallel, --prune)",
            "fermentrack-backup upload",
        ),
        (["nosuch"], "No such command 'nosuch'.", "fermentrack-backup"),
        (["config", "set"], "Missing argument 'KEY'.", "fermentrack-backup config set"),
    ],
)
def test_a_bad_command_line_is_an_error_and_a_hint_too(
    args: list[str], message: str, where: str, subprocess_env: dict[str, str]
) -> None:
    result = cli(*args, env=subprocess_env)
    assert result.returncode == errors.ExitCode.USAGE
    assert result.stderr.splitlines() == [f"error: {message}", f"hint: see `{where} --help`"]


def test_no_arguments_still_show_the_help(subprocess_env: dict[str, str]) -> None:
    result = cli(env=subprocess_env)
    assert result.returncode == errors.ExitCode.USAGE
    assert "Usage: fermentrack-backup" in result.stderr and "Exit codes:" in result.stderr


def test_verify_of_a_folder_ends_its_failed_lines_with_an_error_and_a_hint(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    result = cli("verify", str(_folder(tmp_path)), env=subprocess_env)
    assert result.returncode == errors.ExitCode.VERIFY
    assert result.stdout.splitlines()[1].startswith(f"FAILED: {BAD}: corrupt archive")  # data
    assert result.stderr.splitlines() == [
        "error: 1 of 2 archive(s) failed verification",
        "hint: a damaged archive cannot be restored: make a new backup in Fermentrack",
    ]


def test_an_unhealthy_status_ends_with_an_error_and_a_hint(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    assert cli("link", "local", str(folder), "--label", "usb", env=subprocess_env).returncode == 0
    folder.rmdir()  # the drive is gone
    result = cli("status", env=subprocess_env)
    assert result.returncode == errors.ExitCode.UNHEALTHY
    assert "target folder does not exist" in result.stdout  # the table says why
    assert result.stderr.splitlines() == [
        "error: unhealthy: 1 of 1 connection(s) (usb)",
        "hint: see the problems above; `fermentrack-backup doctor` checks the setup",
    ]
    assert cli("status", "--json", env=subprocess_env).stderr == ""  # the data says it all


def test_doctor_with_something_to_fix_ends_with_an_error_and_a_hint(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    assert cli("link", "local", str(folder), "--label", "usb", env=subprocess_env).returncode == 0
    folder.rmdir()
    result = cli("doctor", env=subprocess_env)
    assert result.returncode == errors.ExitCode.UNHEALTHY
    assert "FIX: connection usb: target folder does not exist" in result.stdout
    error, hint = result.stderr.splitlines()
    assert error.startswith("error: unhealthy: ") and "connection usb" in error, error
    assert (
        hint
        == "hint: do what the `fix:` lines above say, then run `fermentrack-backup doctor` again"
    )
