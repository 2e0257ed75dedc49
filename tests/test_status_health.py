"""`status` online and offline, `connections` token locations, and `unlink` confirmation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run, run_json


def test_status_checks_token_account_space_and_what_is_stored(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    conn = make_dropbox_conn()
    fake_dropbox.put_file("/Fermentrack Backups/2026-11-26T03.00.00.tar.xz", b"a" * 100)
    fake_dropbox.put_file("/Fermentrack Backups/2026-11-27T03.00.00.tar.xz", b"b" * 50)
    fake_dropbox.put_file("/Fermentrack Backups/notes.txt", b"not a backup")
    app = Context.create()
    app.db.verifications.record(conn.id, "/x.tar.xz", "h", True, None)
    app.close()
    result = run("status", "--json")
    assert result.exit_code == 0, result.output
    (s,) = run_json("status")["connections"]
    assert s["ok"] is True
    assert s["token_refreshes"] is True
    assert s["account"] == {"email": "brewer@example.com", "name": "Fake Brewer"}
    assert s["space"]["allocated"] == fake_dropbox.quota_allocated
    assert s["space"]["used"] == fake_dropbox.used_bytes()
    assert s["stored"]["count"] == 2
    assert s["stored"]["total_size"] == 150
    assert s["stored"]["newest"] is not None
    assert s["stored"]["newest_age_s"] >= 0
    assert s["last_verification"]["ok"] is True
    table = run("status").stdout
    assert "brewer@example.com" in table
    assert "2 (150 B)" in table


def test_status_offline_makes_no_network_calls(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    make_dropbox_conn()
    fake_dropbox.requests.clear()
    (s,) = run_json("status", "--offline")["connections"]
    assert s["checked"] == "offline"
    assert "account" not in s
    assert fake_dropbox.requests == []


def test_status_exits_unhealthy_when_the_last_upload_is_older_than_max_age(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], sample: Path
) -> None:
    conn = make_dropbox_conn()
    assert run("upload", str(sample), "--to", conn.id).exit_code == 0
    assert run("status", "--offline", "--max-age", "26h").exit_code == 0
    app = Context.create()
    app.db.sql.execute("UPDATE uploads SET finished_at = '2026-01-01T00:00:00Z'")
    app.close()
    stale = run("status", "--offline", "--max-age", "26h")
    assert stale.exit_code == ExitCode.UNHEALTHY
    assert "last successful upload is" in stale.stdout


def test_status_reports_an_unreachable_dropbox_as_unhealthy(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    make_dropbox_conn()
    fake_dropbox.inject("*", "503", times=10)
    (s,) = run_json("status")["connections"]
    assert s["ok"] is False
    assert s["problems"]
    assert run("status").exit_code == ExitCode.UNHEALTHY


def test_connections_show_where_each_token_lives(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], home: Path
) -> None:
    make_dropbox_conn("in-keyring", store="keyring")
    make_dropbox_conn("in-file", store="file")
    rows = {c["label"]: c for c in run_json("connections")["connections"]}
    assert rows["in-keyring"]["token_location"].startswith("keyring (")
    assert str(home / "data" / "tokens.json") in rows["in-file"]["token_location"]
    assert "tokens.json" in run("connections").stdout


def test_unlink_refuses_without_yes_when_nobody_can_answer(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    make_dropbox_conn()
    result = run("unlink", "dropbox")
    assert result.exit_code == ExitCode.USAGE
    assert "--yes" in result.stderr
    assert len(run_json("connections")["connections"]) == 1
    assert fake_dropbox.requests_to("auth/token/revoke") == []


def test_unlink_asks_on_a_terminal(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], monkeypatch: Any
) -> None:
    make_dropbox_conn()
    monkeypatch.setattr("fermentrack_backup_cli.cli.connections.stdin_is_tty", lambda: True)
    declined = run("unlink", "dropbox", input="n\n")
    assert declined.exit_code != 0
    assert len(run_json("connections")["connections"]) == 1
    accepted = run("unlink", "dropbox", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert run_json("connections")["connections"] == []


def test_unlink_revokes_the_token_and_deletes_it(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], memory_keyring: Any
) -> None:
    conn = make_dropbox_conn()
    assert run("unlink", "dropbox", "--yes").exit_code == 0
    assert len(fake_dropbox.requests_to("auth/token/revoke")) == 1
    assert ("fermentrack-backup", conn.id) not in memory_keyring.passwords
