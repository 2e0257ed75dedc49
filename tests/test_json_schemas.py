"""One JSON contract: every --json output validates against its shipped schema.

Each command is run through the CLI and its stdout validated against
fermentrack_backup_cli/schemas/<kind>.json (JSON Schema 2020-12, additional
properties refused, so a renamed or added field fails here until the schema and the
README say so). Times are checked as the one form the tool writes, RFC 3339 UTC
(`2026-11-27T03:00:00Z`). A last check walks the Typer app: every command with a
--json option has been run here, and every schema file has been used.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer

import fermentrack_backup_cli
from fermentrack_backup_cli.cli import app
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run
from tests.samples import backup_name, make_backup, make_sample, truncate

SCHEMAS = Path(fermentrack_backup_cli.__file__).parent / "schemas"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date-time")
def _utc_time(value: object) -> bool:
    return not isinstance(value, str) or bool(RFC3339_UTC.match(value))


def schema(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{kind}.json").read_text())
    return loaded


class Contract:
    """Runs commands with --json and validates what they print; remembers what it saw."""

    def __init__(self) -> None:
        self.commands: set[str] = set()
        self.kinds: set[str] = set()

    def check(
        self, kind: str, command: str, *args: str, exit_code: int | None = 0
    ) -> dict[str, Any]:
        result = run(*command.split(), *args, "--json")
        if exit_code is not None:
            assert result.exit_code == exit_code, result.output
        document = json.loads(result.stdout)  # nothing but the one document on stdout
        jsonschema.Draft202012Validator(schema(kind), format_checker=_formats).validate(document)
        assert next(iter(document)) == "schema_version"
        self.kinds.add(kind)
        self.commands.add(command)
        return dict(document)


@pytest.fixture
def contract() -> Iterator[Contract]:
    yield Contract()


def _json_commands(group: Any, prefix: str = "") -> set[str]:
    found = set()
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found |= _json_commands(command, path + " ")
        elif any(param.name == "json" for param in command.params):
            found.add(path)
    return found


def test_every_schema_is_a_valid_2020_12_schema_with_schema_version() -> None:
    files = sorted(SCHEMAS.glob("*.json"))
    assert len(files) >= 13
    for path in files:
        loaded = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(loaded)
        assert loaded["properties"]["schema_version"] == {"const": 1}, path.name
        assert "schema_version" in loaded["required"], path.name
        assert loaded["additionalProperties"] is False, path.name


def test_every_json_output_of_every_command_matches_its_schema(
    contract: Contract,
    tmp_path: Path,
    fake_dropbox: Any,
    make_dropbox_conn: Callable[..., Any],
) -> None:
    src = tmp_path / "backups"
    make_backup(src)
    broken = truncate(make_backup(tmp_path / "broken", when=datetime(2026, 11, 26, 3)), 300)
    usb = tmp_path / "usb"
    usb.mkdir()
    assert run("link", "local", str(usb), "--label", "usb").exit_code == 0
    dropbox = make_dropbox_conn("cloud")
    name = backup_name(make_sample.DEFAULT_WHEN, "tar.xz")

    contract.check("providers", "providers")
    listed = contract.check("connections", "connections")
    assert {c["label"] for c in listed["connections"]} == {"usb", "cloud"}
    contract.check("config-show", "config show")
    uploaded = contract.check("upload", "upload", str(src), "--to", "usb")
    assert uploaded["prune"] is None
    contract.check("upload", "upload", str(src), "--to", "cloud", "--no-check")
    failed = contract.check(
        "upload", "upload", str(broken), "--to", "usb", exit_code=ExitCode.VERIFY
    )
    assert failed["uploads"][0]["status"] == "failed" and failed["uploads"][0]["hint"]
    run("config", "set", "retention.keep_last", "5")
    pruned = contract.check("upload", "upload", str(src), "--to", "usb", "--prune")
    assert pruned["prune"]["kept"]
    contract.check("uploads", "uploads")
    contract.check("verify", "verify", str(src), str(broken), "--to", "usb", exit_code=5)
    contract.check("verify-remote", "verify", "--remote", "--all", "--to", "usb")
    contract.check("verify-remote", "verify", "--remote", name, "--to", "cloud")
    contract.check("remote-ls", "remote ls", "--to", "cloud")
    out = tmp_path / "restore"
    contract.check("download", "download", name, "--to", "usb", "-o", str(out))
    contract.check("prune", "prune", "--to", "usb", "--keep-last", "1", "--dry-run")
    online = contract.check("status", "status")
    by_label = {c["label"]: c for c in online["connections"]}
    assert by_label["cloud"]["account"]["email"] == fake_dropbox.email
    assert by_label["usb"]["stored"]["count"] == 1
    contract.check("status", "status", "--offline")
    fake_dropbox.inject("*", "503", times=10)
    contract.check("status", "status", "cloud", exit_code=ExitCode.UNHEALTHY)
    contract.check("doctor", "doctor", exit_code=None)
    error = contract.check("error", "verify", str(tmp_path / "nope.tar.xz"), exit_code=3)
    assert error["error"] == {
        "code": "not_found",
        "message": error["error"]["message"],
        "hint": "check the path",
        "exit_code": 3,
    }
    contract.check("error", "remote ls", "--to", "nobody", exit_code=3)
    contract.check("error", "upload", str(src), "--strict", "--no-check", exit_code=2)
    assert dropbox.id in {c["id"] for c in listed["connections"]}

    root = typer.main.get_command(app)
    assert contract.commands == _json_commands(root)
    assert contract.kinds == {p.stem for p in SCHEMAS.glob("*.json")}


def test_a_needs_relink_connection_is_status_needs_relink_in_every_output(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], contract: Contract
) -> None:
    conn = make_dropbox_conn()
    fake_dropbox.revoke_all_tokens()
    status = contract.check("status", "status", exit_code=ExitCode.UNHEALTHY)
    (row,) = status["connections"]
    assert (row["ok"], row["status"]) == (False, "needs_relink")
    assert status["ok"] is False
    (listed,) = contract.check("connections", "connections")["connections"]
    assert (listed["id"], listed["status"]) == (conn.id, "needs_relink")


def test_a_passing_doctor_check_carries_no_fix(contract: Contract) -> None:
    checks = contract.check("doctor", "doctor", exit_code=ExitCode.UNHEALTHY)["checks"]
    python = next(c for c in checks if c["check"] == "python")
    assert python["ok"] is True
    assert python["fix"] is None
    assert all(c["fix"] is None for c in checks if c["ok"])
    assert all(c["fix"] for c in checks if not c["ok"])


def test_the_same_things_have_the_same_names_across_commands(
    contract: Contract, tmp_path: Path
) -> None:
    """A local path is `path`, a stored one `remote_path`, a lifecycle `status`, a
    pass/fail check `ok`: an upload result, its history row, the stored backup and its
    verification agree."""
    src = tmp_path / "backups"
    archive = make_backup(src)
    dest = f"local:{tmp_path / 'usb'}"
    (upload,) = contract.check("upload", "upload", str(archive), "--to", dest, "--mkdir")["uploads"]
    (row,) = contract.check("uploads", "uploads")["uploads"]
    (stored,) = contract.check("remote-ls", "remote ls", "--to", dest)["backups"]
    (check,) = contract.check("verify-remote", "verify", "--remote", "--all", "--to", dest)[
        "backups"
    ]
    (local,) = contract.check("verify", "verify", str(archive))["archives"]
    assert upload["path"] == row["path"] == local["path"] == str(archive)
    assert upload["remote_path"] == row["remote_path"] == stored["remote_path"]
    assert stored["remote_path"] == check["remote_path"]
    assert upload["status"] == row["status"] == "completed"
    assert check["ok"] is local["ok"] is True
    assert upload["size"] == row["size"] == stored["size"] == archive.stat().st_size


def test_json_times_are_rfc3339_utc_strings() -> None:
    validator = jsonschema.Draft202012Validator(
        {"type": "string", "format": "date-time"}, format_checker=_formats
    )
    assert validator.is_valid("2026-11-27T03:00:00Z")
    assert not validator.is_valid("2026-11-27T03:00:00+01:00")
    assert not validator.is_valid("2026-11-27 03:00:00")


@pytest.mark.slow
def test_the_built_wheel_ships_every_schema(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (the tests normally run under `uv run`)")
    repo = Path(__file__).resolve().parent.parent
    built = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path), str(repo)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("fermentrack_backup_cli/schemas/")}
    assert shipped == {f"fermentrack_backup_cli/schemas/{p.name}" for p in SCHEMAS.glob("*.json")}


def test_an_unexpected_error_is_a_json_error_object_too(
    contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fermentrack_backup_cli.cli import connections

    def broken(targets: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(connections, "list_connections", broken)
    error = contract.check("error", "connections", exit_code=ExitCode.FAILURE)["error"]
    assert error["code"] == "unexpected"
    assert error["message"].startswith("unexpected RuntimeError; details in ")
    assert error["exit_code"] == ExitCode.FAILURE
