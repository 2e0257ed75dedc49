"""`upload --to <dropbox connection>` end to end: CLI, pipeline, engine and the fake.

In-process through Typer's CliRunner; the subprocess tests (SIGKILL and resume,
two runs at once) are in test_upload_dropbox_process.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.contenthash import content_hash
from fermentrack_backup_cli.core.context import Context
from tests.cli_helpers import UPLOAD_RESULT_KEYS, history, run

MIB = 1024 * 1024
FOLDER = "/Fermentrack Backups"


def write(folder: Path, name: str, size: int) -> tuple[Path, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    path = folder / name
    path.write_bytes(data)
    return path, data


@pytest.fixture
def conn(make_dropbox_conn: Any) -> Any:
    return make_dropbox_conn()


def test_upload_to_dropbox_prints_the_documented_json_fields(
    fake_dropbox: Any, conn: Any, tmp_path: Path
) -> None:
    path, data = write(tmp_path / "b", "2026-01-01.tar.xz", 9 * MIB + 5)
    result = run(
        "upload", str(path), "--to", "dropbox", "--no-check", "--chunk-size", "4",
        "--parallel", "2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.stdout)["uploads"]
    assert set(item) >= UPLOAD_RESULT_KEYS
    assert item["status"] == "completed"
    assert item["remote_path"] == f"{FOLDER}/2026-01-01.tar.xz"
    assert item["size"] == len(data)
    assert item["content_hash"] == content_hash(data)
    assert item["resumed_from"] is None
    assert fake_dropbox.read_file(f"{FOLDER}/2026-01-01.tar.xz") == data
    starts = fake_dropbox.requests_to("files/upload_session/start")
    assert starts[0].args["session_type"][".tag"] == "concurrent"


def test_nightly_runs_upload_only_what_dropbox_lacks_and_refuse_other_content(
    fake_dropbox: Any, conn: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    for i in range(3):
        write(folder, f"2026-01-0{i + 1}.tar.xz", 1000 + i)
    first = run("upload", str(folder), "--to", "dropbox", "--no-check", "--quiet")
    assert first.exit_code == 0, first.output
    assert first.stdout == ""
    second = json.loads(
        run("upload", str(folder), "--to", "dropbox", "--no-check", "--json").stdout
    )["uploads"]
    assert [r["status"] for r in second] == ["skipped"] * 3
    assert len(fake_dropbox.requests_to("files/upload")) == 3
    assert len(fake_dropbox.requests_to("files/list_folder")) == 2

    write(folder, "2026-01-01.tar.xz", 5000)  # same name, other content
    conflict = run("upload", str(folder / "2026-01-01.tar.xz"), "--to", "dropbox", "--no-check")
    assert conflict.exit_code == 1
    assert "different content" in conflict.output
    replaced = run(
        "upload", str(folder / "2026-01-01.tar.xz"), "--to", "dropbox", "--no-check", "--overwrite"
    )
    assert replaced.exit_code == 0, replaced.output
    assert len(fake_dropbox.read_file(f"{FOLDER}/2026-01-01.tar.xz")) == 5000


def test_a_sample_archive_is_checked_then_uploaded(
    fake_dropbox: Any, conn: Any, sample: Path
) -> None:
    result = run("upload", str(sample), "--to", "dropbox")
    assert result.exit_code == 0, result.output
    assert f"completed: {sample.name}" in result.stdout
    assert fake_dropbox.read_file(f"{FOLDER}/{sample.name}") == sample.read_bytes()


def test_insufficient_space_says_how_much_is_needed_and_free(
    fake_dropbox: Any, conn: Any, tmp_path: Path
) -> None:
    fake_dropbox.quota_allocated = 1000
    path, _ = write(tmp_path, "big.tar.xz", 5000)
    result = run("upload", str(path), "--to", "dropbox", "--no-check")
    assert result.exit_code == 8
    assert "need 4.9 KiB, 1000 B free" in result.output
    assert "hint:" in result.output
    assert fake_dropbox.requests_to("files/upload") == []
    (row,) = history()
    assert (row.status, row.error_code) == ("failed", "insufficient_space")


def test_a_name_dropbox_refuses_fails_before_any_upload(
    fake_dropbox: Any, conn: Any, tmp_path: Path
) -> None:
    path, _ = write(tmp_path, "backup.tar.xz ", 10)
    result = run("upload", str(path), "--to", "dropbox", "--no-check")
    assert result.exit_code == 2
    assert "ends with a space" in result.output
    assert fake_dropbox.requests_to("files/upload") == []
    assert history()[0].error_code == "disallowed_name"


def test_an_unreadable_archive_fails_alone(
    fake_dropbox: Any, conn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "backups"
    bad, _ = write(folder, "a.tar.xz", 10)
    write(folder, "b.tar.xz", 10)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: Path(p) != bad and real_access(p, m))
    result = run("upload", str(folder), "--to", "dropbox", "--no-check", "--json")
    assert result.exit_code == 1
    statuses = {Path(r["path"]).name: r["status"] for r in json.loads(result.stdout)["uploads"]}
    assert statuses == {"a.tar.xz": "failed", "b.tar.xz": "completed"}
    assert {r.error_code for r in history()} == {"permission_denied", None}


def test_provider_disabled_and_not_linked_leave_failed_rows(
    fake_dropbox: Any, conn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = write(tmp_path, "a.tar.xz", 10)
    monkeypatch.delenv("DROPBOX_APP_KEY")
    disabled = run("upload", str(path), "--to", "dropbox", "--no-check")
    assert disabled.exit_code == 2
    assert "not enabled" in disabled.output
    monkeypatch.setenv("DROPBOX_APP_KEY", fake_dropbox.app_key)
    from fermentrack_backup_cli.auth.tokens import open_store

    app = Context.create()
    open_store("keyring", app.dirs.token_file).delete(conn.id)
    app.close()
    unlinked = run("upload", str(path), "--to", "dropbox", "--no-check")
    assert unlinked.exit_code == 4
    assert [r.error_code for r in history()] == ["not_linked", "provider_disabled"]


def test_a_refused_token_marks_the_connection_for_relinking(
    fake_dropbox: Any, conn: Any, tmp_path: Path
) -> None:
    path, _ = write(tmp_path, "a.tar.xz", 10)
    fake_dropbox.revoke_all_tokens()
    result = run("upload", str(path), "--to", "dropbox", "--no-check")
    assert result.exit_code == 4
    assert "link dropbox" in result.output
    app = Context.create()
    assert app.db.connections.get(conn.id).state == "needs_relink"  # type: ignore[union-attr]
    app.close()
    assert [r.error_code for r in history()] == ["needs_relink"]


def test_an_exhausted_retry_budget_fails_with_the_network_exit_code(
    fake_dropbox: Any, conn: Any, tmp_path: Path
) -> None:
    run("config", "set", "upload.max_attempts", "2")
    path, _ = write(tmp_path, "a.tar.xz", 10)
    fake_dropbox.inject("files/upload", "503", times=10)
    result = run("upload", str(path), "--to", "dropbox", "--no-check", "--max-duration", "1h")
    assert result.exit_code == 9
    assert "gave up" in result.output
    assert history()[0].error_code == "retry_exhausted"


def test_invalid_option_values_are_usage_errors(conn: Any, tmp_path: Path) -> None:
    path, _ = write(tmp_path, "a.tar.xz", 10)
    for args in (
        ("--parallel", "0"),
        ("--chunk-size", "2"),
        ("--max-duration", "soon"),
        ("--notify-url", "file:///etc/passwd"),
    ):
        result = run("upload", str(path), "--to", "dropbox", "--no-check", *args)
        assert result.exit_code == 2, (args, result.output)
