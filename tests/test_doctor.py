"""`doctor`: one line per check, ok or the fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run


def test_doctor_says_ok_for_each_check_when_everything_works(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], cron_keyring: Path
) -> None:
    make_dropbox_conn("brewery")
    result = run("doctor")
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok: python: Python 3.")
    assert any(line.startswith("ok: config: ") for line in lines)
    assert any("redirect URI to register: http://localhost:53682/" in line for line in lines)
    assert any(line.startswith("ok: token store: keyring (") for line in lines)
    assert any(line.startswith("ok: data dir: ") for line in lines)
    assert "ok: connection brewery: the Dropbox token refreshes" in lines
    assert any(
        line.startswith("ok: cron token brewery: read back in an environment like cron")
        for line in lines
    )


def test_doctor_names_the_fix_for_a_missing_app_key_and_no_keyring() -> None:
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())  # the autouse fixture restores the previous one
    result = run("doctor")
    assert result.exit_code == ExitCode.UNHEALTHY
    assert "FIX: dropbox: the Dropbox provider is not enabled" in result.stdout
    assert "FIX: token store: " in result.stdout
    assert "config set token_store file" in result.stdout


def test_doctor_reports_a_revoked_token_and_a_broken_config_as_json(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    make_dropbox_conn("brewery")
    fake_dropbox.revoke_all_tokens()
    checks = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["connection brewery"]["ok"] is False
    assert "link dropbox" in checks["connection brewery"]["fix"]
    run("config", "set", "remote_folder", "/Brew")
    from fermentrack_backup_cli.paths import app_dirs

    app_dirs().config_file.write_text("remote_folder = [")
    broken = run("doctor")
    assert broken.exit_code == ExitCode.UNHEALTHY
    assert "FIX: config: malformed config file" in broken.stdout


def test_doctor_reports_a_data_dir_that_is_a_file_as_fix_lines(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "data").write_text("not a folder")
    result = run("doctor")
    assert result.exit_code == ExitCode.UNHEALTHY, result.output
    assert "FIX: data dir:" in result.stdout
    assert "FIX: history:" in result.stdout
    assert "Traceback" not in result.output
