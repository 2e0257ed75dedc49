"""Issue 8, item 7: what used to surface as `unexpected ...` is one `error:` line and one
`hint:` line with a documented exit code: a data dir that is a file, a damaged history
database, names too long for the filesystem, a newline in remote_folder, and
contradictory flags."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.errors import ExitCode
from fermentrack_backup_cli.store import Database as History
from tests.cli_helpers import cli, run


def assert_one_clean_error(stderr: str, *fragments: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 2, stderr
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), stderr
    assert "unexpected" not in stderr and "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr, (fragment, stderr)


# --- the data dir is a file ---------------------------------------------------------------


def test_a_home_that_is_a_file_is_named_with_a_hint(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    env = {**subprocess_env, "FERMENTRACK_BACKUP_HOME": str(home)}
    for args in (("connections",), ("uploads",), ("config", "set", "remote_folder", "/x")):
        result = cli(*args, env=env)
        assert result.returncode == ExitCode.FAILURE, args
        assert_one_clean_error(result.stderr, str(home), "FERMENTRACK_BACKUP_HOME")


def test_a_data_dir_that_is_a_file_is_named_with_a_hint(
    home: Path, subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    home.mkdir(parents=True)
    (home / "data").write_text("in the way")
    result = cli("upload", str(sample), "--to", f"local:{tmp_path}", env=subprocess_env)
    assert result.returncode == ExitCode.FAILURE
    assert_one_clean_error(result.stderr, str(home / "data"), "is a file")


def test_a_state_dir_that_is_a_file_stops_an_upload_cleanly(
    home: Path, subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    home.mkdir(parents=True)
    (home / "state").write_text("in the way")  # the lock lives under state/locks
    result = cli("upload", str(sample), "--to", f"local:{tmp_path}", env=subprocess_env)
    assert result.returncode == ExitCode.FAILURE
    assert_one_clean_error(result.stderr, str(home / "state"))


# --- a damaged history database ---------------------------------------------------------


def _damage_uploads_table(database: Path) -> None:
    """Overwrite the uploads table's root page with garbage, as a bad SD card does."""
    db = sqlite3.connect(database)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'uploads'").fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    finally:
        db.close()
    with database.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xde\xad\xbe\xef" * (page_size // 4))


@pytest.fixture
def damaged_history(home: Path, sample: Path, tmp_path: Path) -> Path:
    assert (
        run("upload", str(sample), "--to", f"local:{tmp_path / 'dest'}", "--mkdir").exit_code == 0
    )
    database = home / "data" / "history.sqlite3"
    _damage_uploads_table(database)
    # the damage is found by a query, not when the file is opened
    History(database).close()
    return database


def test_a_damaged_history_page_found_by_a_query_is_a_clean_error(
    damaged_history: Path, subprocess_env: dict[str, str]
) -> None:
    result = cli("uploads", env=subprocess_env)
    assert result.returncode == ExitCode.FAILURE
    assert_one_clean_error(result.stderr, "is damaged", str(damaged_history), "move it away")


def test_a_damaged_history_is_history_damaged_in_json(
    damaged_history: Path, subprocess_env: dict[str, str], sample: Path, tmp_path: Path
) -> None:
    import json

    result = cli(
        "upload",
        str(sample),
        "--to",
        f"local:{tmp_path / 'dest'}",
        "--mkdir",
        "--json",
        env=subprocess_env,
    )
    assert result.returncode == ExitCode.FAILURE
    assert json.loads(result.stdout)["error"]["code"] == "history_damaged"


def test_the_hints_command_moves_the_damaged_history_away_and_a_new_one_starts(
    damaged_history: Path, subprocess_env: dict[str, str]
) -> None:
    import subprocess

    hint = cli("uploads", env=subprocess_env).stderr.splitlines()[1]
    command = hint.split("`")[1]  # the shell command the hint gives
    subprocess.run(["sh", "-c", command], check=True, timeout=30)
    assert not damaged_history.exists()
    result = cli("uploads", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    assert (damaged_history.parent / "damaged" / damaged_history.name).exists()


def test_a_file_that_is_not_a_database_is_history_damaged(home: Path) -> None:
    database = home / "data" / "history.sqlite3"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is not an SQLite database" * 200)
    with pytest.raises(errors.BackupError) as info:
        History(database)
    assert info.value.code == "history_damaged"


def test_a_too_large_number_bound_by_sqlite_is_a_clean_error(home: Path) -> None:
    history = History(home / "data" / "history.sqlite3")
    try:
        with pytest.raises(errors.BackupError) as info:
            history.attempts.start("c", "/x.tar.xz", None, 10**23)
    finally:
        history.close()
    assert info.value.exit_code == ExitCode.USAGE
    assert "too large" in info.value.message


# --- stray OSErrors at the error boundary ------------------------------------------------


def test_a_name_too_long_for_the_filesystem_is_one_line_not_unexpected(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    long_name = tmp_path / ("a" * 300 + ".tar.xz")
    for args in (
        ("upload", str(long_name), "--to", f"local:{tmp_path}"),
        ("verify", str(long_name)),
    ):
        result = cli(*args, env=subprocess_env)
        assert result.returncode == ExitCode.USAGE, args
        assert_one_clean_error(result.stderr, "too long", "255 bytes")


def test_a_home_whose_name_is_too_long_is_one_line_not_unexpected(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = {**subprocess_env, "FERMENTRACK_BACKUP_HOME": str(tmp_path / ("h" * 300))}
    result = cli("connections", env=env)
    assert result.returncode in (ExitCode.FAILURE, ExitCode.USAGE)
    assert_one_clean_error(result.stderr, "too long")


def test_a_stray_os_error_names_its_path_and_gives_a_hint() -> None:
    import errno

    from fermentrack_backup_cli.cli.boundary import stray_os_error

    mapped = stray_os_error(OSError(errno.EIO, "Input/output error", "/mnt/usb/x"))
    assert "/mnt/usb/x" in mapped.message and "Input/output error" in mapped.message
    assert mapped.hint
    assert mapped.exit_code == ExitCode.FAILURE
    escaped = stray_os_error(OSError(errno.EIO, "Input/output error", "/tmp/\x1b[31mred"))
    assert "\x1b" not in escaped.message


# --- remote_folder ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["/Fermentrack\nBackups", "/a\x1b[31m", "/\u202eevil", "/a\tb"])
def test_remote_folder_refuses_control_and_format_characters(bad: str) -> None:
    result = run("config", "set", "remote_folder", bad)
    assert result.exit_code == ExitCode.USAGE
    assert "control or formatting" in result.stderr


def test_remote_folder_from_the_environment_is_checked_too(
    tmp_path: Path, subprocess_env: dict[str, str], sample: Path
) -> None:
    env = {**subprocess_env, "FERMENTRACK_BACKUP_REMOTE_FOLDER": "/Backups\nevil"}
    result = cli("upload", str(sample), "--to", f"local:{tmp_path}", env=env)
    assert result.returncode == ExitCode.USAGE
    assert_one_clean_error(result.stderr, "remote_folder")


def test_a_remote_folder_with_spaces_and_letters_is_still_fine() -> None:
    assert run("config", "set", "remote_folder", "/Fermentrack Backups/Küche").exit_code == 0


# --- contradictory flags -----------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ("--print-url", "--code", "X"),
        ("--print-url", "--browser"),
        ("--code", "X", "--browser"),
    ],
)
def test_contradictory_link_flags_are_a_usage_error(
    subprocess_env: dict[str, str], flags: tuple[str, ...]
) -> None:
    # app key set and a working store: without the check these would go on and do something
    env = {**subprocess_env, "DROPBOX_APP_KEY": "k", "FERMENTRACK_BACKUP_TOKEN_STORE": "file"}
    result = cli("link", "dropbox", *flags, env=env)
    assert result.returncode == ExitCode.USAGE
    assert_one_clean_error(result.stderr, "cannot be used together")
    assert not (Path(env["FERMENTRACK_BACKUP_HOME"]) / "state" / "pending-auth.json").exists()


def test_print_url_with_no_browser_is_not_a_contradiction(subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "DROPBOX_APP_KEY": "k", "FERMENTRACK_BACKUP_TOKEN_STORE": "file"}
    result = cli("link", "dropbox", "--print-url", "--no-browser", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("https://")
