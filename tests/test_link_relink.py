"""Revoked tokens, re-linking the same account, and where tokens are stored."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run, run_json
from tests.link_support import code_shown


def relink(fake: Any) -> Any:
    url = run("link", "dropbox", "--print-url").stdout.strip()
    return run("link", "dropbox", "--code", code_shown(fake, url))


def test_a_revoked_token_marks_needs_relink_and_relinking_restores_the_same_connection(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], sample: Path
) -> None:
    conn = make_dropbox_conn()
    assert run("upload", str(sample), "--to", conn.id).exit_code == 0
    fake_dropbox.revoke_all_tokens()
    fake_dropbox.expire_access_tokens()
    refused = run("upload", str(sample), "--to", conn.id, "--overwrite")
    assert refused.exit_code == ExitCode.AUTH, refused.output
    assert "link dropbox" in refused.output
    assert run_json("connections")["connections"][0]["status"] == "needs_relink"
    status = run("status", "--json")
    assert status.exit_code == ExitCode.UNHEALTHY
    assert json.loads(status.stdout)["connections"][0]["status"] == "needs_relink"

    again = relink(fake_dropbox)
    assert again.exit_code == 0, again.stderr
    assert "refreshed its token instead of adding a duplicate" in again.stdout
    assert "needs_relink cleared" in again.stderr
    (after,) = run_json("connections")["connections"]
    assert (after["id"], after["status"]) == (conn.id, "ok")
    assert run("status").exit_code == 0
    assert len(run_json("uploads", "--connection", conn.id)["uploads"]) >= 2  # history kept


def test_status_marks_a_connection_whose_refresh_is_refused(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    conn = make_dropbox_conn()
    fake_dropbox.revoke_all_tokens()
    result = run("status")
    assert result.exit_code == ExitCode.UNHEALTHY
    assert run_json("connections")["connections"][0]["status"] == "needs_relink"
    assert conn.id[:8] in run("connections").stdout


def test_the_file_token_store_is_opt_in_and_0600(
    fake_dropbox: Any, home: Path, memory_keyring: Any
) -> None:
    assert run("config", "set", "token_store", "file").exit_code == 0
    assert relink(fake_dropbox).exit_code == 0
    token_file = home / "data" / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    (conn,) = run_json("connections")["connections"]
    assert conn["token_store"] == "file"
    assert str(token_file) in conn["token_location"]
    assert list(json.loads(token_file.read_text())) == [conn["id"]]
    assert memory_keyring.passwords == {}
    assert run("status").exit_code == 0


def test_relinking_into_another_store_moves_the_token(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], home: Path, memory_keyring: Any
) -> None:
    conn = make_dropbox_conn(store="keyring")
    run("config", "set", "token_store", "file")
    assert relink(fake_dropbox).exit_code == 0
    assert run_json("connections")["connections"][0]["token_store"] == "file"
    assert ("fermentrack-backup", conn.id) not in memory_keyring.passwords
    assert conn.id in json.loads((home / "data" / "tokens.json").read_text())


def test_relinking_revokes_the_refresh_token_it_replaces(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    conn = make_dropbox_conn()
    from fermentrack_backup_cli.auth.tokens import open_store
    from fermentrack_backup_cli.core.context import Context

    app = Context.create()
    old_token = open_store("keyring", app.dirs.token_file).get(conn.id)
    app.close()
    assert old_token is not None
    assert relink(fake_dropbox).exit_code == 0
    assert fake_dropbox._refresh_tokens[old_token].revoked
    assert len(fake_dropbox.requests_to("auth/token/revoke")) == 1
    assert run("status").exit_code == 0  # the new token works
