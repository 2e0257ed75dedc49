"""Findings of the hostile review of the redesign (issue 9), each pinned by a test."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.errors import ExitCode
from fermentrack_backup_cli.models import Connection
from tests.cli_helpers import run


def _add(provider: str, label: str, location: str) -> str:
    conn_id = str(uuid.uuid4())
    app = Context.create()
    try:
        app.db.connections.add(
            Connection(id=conn_id, provider=provider, label=label, location=location)
        )
    finally:
        app.close()
    return conn_id


def test_a_connection_of_a_provider_this_version_lacks_is_one_problem_row(
    tmp_path: Path,
) -> None:
    """Linked by a newer version: status reports that row, the others are still checked."""
    (tmp_path / "usb").mkdir()
    _add("local", "usb", str(tmp_path / "usb"))
    future = _add("gdrive", "cloud", "gdrive://x")
    for args in (("status", "--offline"), ("status",)):
        result = run(*args, "--json")
        assert result.exit_code == ExitCode.UNHEALTHY, result.stdout
        rows = {row["label"]: row for row in json.loads(result.stdout)["connections"]}
        assert rows["usb"]["problems"] == [], rows["usb"]
        problem = " ".join(rows["cloud"]["problems"])
        assert "'gdrive'" in problem
        assert f"unlink {future[:8]}" in problem
        assert "Traceback" not in result.stdout + result.stderr


def test_uploading_to_it_names_the_connection_and_what_to_do(sample: Path) -> None:
    _add("gdrive", "cloud", "gdrive://x")
    result = run("upload", str(sample), "--to", "cloud")
    assert result.exit_code == ExitCode.USAGE
    assert "connection 'cloud' uses provider 'gdrive'" in result.stderr
    assert "hint: upgrade fermentrack-backup, or forget the connection" in result.stderr


def test_it_can_still_be_listed_and_unlinked() -> None:
    _add("gdrive", "cloud", "gdrive://x")
    listed = run("connections")
    assert listed.exit_code == 0, listed.stderr
    assert "cloud" in listed.stdout
    gone = run("unlink", "cloud", "--yes")
    assert gone.exit_code == 0, gone.stderr
    assert "cloud" not in run("connections").stdout


def test_the_not_linked_hint_names_each_way_to_link_without_a_pipe(sample: Path) -> None:
    result = run("upload", str(sample))
    hint = next(line for line in result.stderr.splitlines() if line.startswith("hint:"))
    assert " | " not in hint
    assert "`fermentrack-backup link dropbox`" in hint
    assert "`fermentrack-backup link local DIR`" in hint


def test_a_label_an_older_version_allowed_that_hides_a_reference_is_warned_about(
    tmp_path: Path,
) -> None:
    (tmp_path / "usb").mkdir()
    conn_id = _add("local", "dropbox", str(tmp_path / "usb"))
    listed = run("connections")
    assert listed.exit_code == 0
    assert "its label cannot be used with --to" in listed.stderr
    assert f"--to {conn_id[:8]}" in listed.stderr
    checks = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["label dropbox"]["ok"] is False
    assert conn_id[:8] in checks["label dropbox"]["fix"]


def test_linking_that_folder_again_with_that_label_is_refused(tmp_path: Path) -> None:
    (tmp_path / "usb").mkdir()
    _add("local", "dropbox", str(tmp_path / "usb"))
    result = run("link", "local", str(tmp_path / "usb"), "--label", "dropbox")
    assert result.exit_code == ExitCode.USAGE
    assert "cannot be used" in result.stderr
    assert "hint: choose another --label" in result.stderr


def test_help_lists_commands_in_the_order_a_user_meets_them() -> None:
    from fermentrack_backup_cli.cli.boundary import HELP_ORDER

    text = run("--help").stdout
    listed = [
        line.split()[0] for line in text.split("Commands")[1].splitlines()[1:] if line.strip()
    ]
    listed = [name.strip("│ ") for name in listed if name.strip("│ ")]
    assert [n for n in listed if n in HELP_ORDER] == list(HELP_ORDER)
