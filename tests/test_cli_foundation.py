"""The CLI as a user types it: providers, link local, upload, uploads, verify, status, config."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import UPLOAD_RESULT_KEYS, run, run_json
from tests.samples import flip_byte, make_backup, truncate


def test_providers_json_has_the_fermentrack_api_shape() -> None:
    data = run_json("providers")["providers"]
    assert [p["provider_id"] for p in data] == ["dropbox", "local"]
    dropbox = data[0]
    assert dropbox["display_name"] == "Dropbox"
    assert dropbox["is_enabled"] is False
    assert dropbox["reason"] == "DROPBOX_APP_KEY is not set"
    assert data[1]["is_enabled"] is True


def test_dropbox_provider_is_enabled_by_the_environment_variable() -> None:
    data = run_json("providers", env={"DROPBOX_APP_KEY": "key"})["providers"]
    assert data[0]["is_enabled"] is True


def test_providers_table_names_the_reason() -> None:
    result = run("providers")
    assert result.exit_code == 0
    assert "DROPBOX_APP_KEY is not set" in result.stdout


def test_link_local_then_connections_lists_it(tmp_path: Path) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    assert run("link", "local", str(folder), "--label", "usb").exit_code == 0
    conns = run_json("connections")["connections"]
    assert len(conns) == 1
    assert conns[0]["provider"] == "local"
    assert conns[0]["label"] == "usb"
    assert conns[0]["path"] == str(folder)
    for key in ("id", "account_email", "created_at", "last_used_at", "status", "token_store"):
        assert key in conns[0]


def test_link_local_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = run("link", "local", str(tmp_path / "nope"))
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "does not exist" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.output


def test_quickstart_uploads_the_sample_and_verifies_the_stored_copy(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("upload", str(sample), "--to", "local:./offsite-backups", "--mkdir")
    assert result.exit_code == 0, result.output
    stored = tmp_path / "offsite-backups" / "Fermentrack Backups" / sample.name
    assert stored.read_bytes() == sample.read_bytes()
    assert "completed" in result.stdout
    again = run_json("upload", str(sample), "--to", "local:./offsite-backups")["uploads"]
    assert again[0]["status"] == "skipped"
    assert again[0]["message"] == "already uploaded"
    ok = run("verify", str(sample), "--to", "local:./offsite-backups")
    assert ok.exit_code == 0
    assert ok.stdout.startswith("ok:")


def test_upload_json_result_fields(sample: Path, tmp_path: Path) -> None:
    data = run_json("upload", str(sample), "--to", f"local:{tmp_path / 'dest'}", "--mkdir")[
        "uploads"
    ]
    assert set(data[0]) >= UPLOAD_RESULT_KEYS
    assert data[0]["size"] == sample.stat().st_size


def test_directory_upload_takes_only_missing_archives(tmp_path: Path) -> None:
    src = tmp_path / "backups"
    src.mkdir()
    from datetime import datetime

    first = make_backup(src, datetime(2026, 11, 25, 3))
    make_backup(src, datetime(2026, 11, 26, 3))
    (src / "notes.txt").write_text("not a backup")
    dest = f"local:{tmp_path / 'dest'}"
    run("upload", str(first), "--to", dest, "--mkdir")
    data = run_json("upload", str(src), "--to", dest)["uploads"]
    statuses = {Path(r["path"]).name: r["status"] for r in data}
    assert statuses == {
        "2026-11-25T03.00.00.tar.xz": "skipped",
        "2026-11-26T03.00.00.tar.xz": "completed",
    }


def test_same_name_different_content_is_refused_without_overwrite(
    sample: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    run("upload", str(sample), "--to", f"local:{dest}", "--mkdir")
    stored = dest / "Fermentrack Backups" / sample.name
    original = stored.read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    from datetime import datetime

    changed = make_backup(other, datetime(2026, 11, 27, 3), rows=50)
    assert changed.name == sample.name
    result = run("upload", str(changed), "--to", f"local:{dest}")
    assert result.exit_code == ExitCode.FAILURE
    assert "already exists with different content" in result.stderr
    assert "--overwrite" in result.stderr
    assert stored.read_bytes() == original
    assert run("upload", str(changed), "--to", f"local:{dest}", "--overwrite").exit_code == 0
    assert stored.read_bytes() == changed.read_bytes()


def test_corrupt_archive_is_not_uploaded_unless_no_check(sample: Path, tmp_path: Path) -> None:
    flip_byte(sample, sample.stat().st_size // 2)
    dest = tmp_path / "dest"
    result = run("upload", str(sample), "--to", f"local:{dest}", "--mkdir")
    assert result.exit_code == ExitCode.VERIFY
    assert not (dest / "Fermentrack Backups" / sample.name).exists()
    rows = run_json("uploads")["uploads"]
    assert rows[0]["status"] == "failed"
    assert rows[0]["error_code"] == "corrupt_archive"
    assert run("upload", str(sample), "--to", f"local:{dest}", "--no-check").exit_code == 0


@pytest.mark.parametrize(
    ("make", "code", "text"),
    [
        (lambda p: p / "missing.tar.xz", ExitCode.NOT_FOUND, "no such file"),
        (lambda p: p, ExitCode.NOT_FOUND, "no backup archives"),
        (
            lambda p: (p / "a.txt", (p / "a.txt").write_text("x"))[0],
            ExitCode.VERIFY,
            "not a backup archive",
        ),
    ],
)
def test_bad_input_gets_one_error_line_a_hint_and_an_exit_code(
    tmp_path: Path, make: object, code: int, text: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    path = make(empty)  # type: ignore[operator]
    result = run("upload", str(path), "--to", f"local:{tmp_path / 'dest'}")
    assert result.exit_code == code
    assert text in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.output


def test_upload_history_records_every_attempt_with_filters(sample: Path, tmp_path: Path) -> None:
    dest = f"local:{tmp_path / 'dest'}"
    run("upload", str(sample), "--to", dest, "--mkdir")
    run("upload", str(sample), "--to", dest)
    rows = run_json("uploads", "--all")["uploads"]
    assert [r["status"] for r in rows] == ["skipped", "completed"]
    assert [r["status"] for r in run_json("uploads")["uploads"]] == ["completed"]
    assert run_json("uploads", "--status", "completed", "--limit", "5")["uploads"][0]["status"] == (
        "completed"
    )
    assert len(run_json("uploads", "--limit", "1")["uploads"]) == 1
    bad = run("uploads", "--status", "nope")
    assert bad.exit_code == ExitCode.USAGE


def test_connection_references_accept_id_prefix_and_label(sample: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        run("link", "local", str(tmp_path / name), "--label", name)
    conns = run_json("connections")["connections"]
    ambiguous = run("upload", str(sample))
    assert ambiguous.exit_code == ExitCode.USAGE
    assert "candidates" in ambiguous.stderr
    a_id = next(c["id"] for c in conns if c["label"] == "a")
    assert run("upload", str(sample), "--to", a_id[:8]).exit_code == 0
    assert run("upload", str(sample), "--to", "b").exit_code == 0
    unknown = run("upload", str(sample), "--to", "zzz")
    assert unknown.exit_code == ExitCode.NOT_FOUND
    assert "a (" in unknown.stderr
    run("config", "set", "default_connection", "a")
    assert run_json("upload", str(sample))["uploads"][0]["status"] == "skipped"


def test_unlink_removes_the_connection_but_keeps_history(sample: Path, tmp_path: Path) -> None:
    (tmp_path / "usb").mkdir()
    run("link", "local", str(tmp_path / "usb"), "--label", "usb")
    run("upload", str(sample), "--to", "usb")
    assert run("unlink", "usb", "--yes").exit_code == 0
    assert run_json("connections")["connections"] == []
    assert len(run_json("uploads")["uploads"]) == 1


def test_verify_reports_corrupt_archives_with_the_verify_exit_code(
    sample: Path, tmp_path: Path
) -> None:
    good = run_json("verify", str(sample))["archives"]
    assert good[0]["ok"] is True
    assert good[0]["file_version"] == 3
    truncate(sample, sample.stat().st_size - 100)
    result = run("verify", str(sample))
    assert result.exit_code == ExitCode.VERIFY
    assert result.stdout.startswith("FAILED:")


def test_verify_to_a_target_detects_a_changed_stored_copy(sample: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    run("upload", str(sample), "--to", f"local:{dest}", "--mkdir")
    stored = dest / "Fermentrack Backups" / sample.name
    flip_byte(stored, 10)
    result = run_json("verify", str(sample), "--to", f"local:{dest}")["archives"]
    assert result[0]["ok"] is False
    assert result[0]["error_code"] == "verify_mismatch"
    stored.unlink()
    missing = run("verify", str(sample), "--to", f"local:{dest}")
    assert missing.exit_code == ExitCode.VERIFY
    assert "no stored copy" in missing.stdout


def test_status_shows_last_success_and_failure_and_max_age(sample: Path, tmp_path: Path) -> None:
    (tmp_path / "usb").mkdir()
    run("link", "local", str(tmp_path / "usb"), "--label", "usb")
    never = run("status", "--max-age", "26h")
    assert never.exit_code == ExitCode.UNHEALTHY
    run("upload", str(sample), "--to", "usb")
    data = run_json("status", "--max-age", "26h")["connections"]
    assert data[0]["ok"] is True
    assert data[0]["last_success"]["path"] == str(sample)
    assert data[0]["last_failure"] is None


def test_config_commands_set_show_unset_and_path(tmp_path: Path, home: Path) -> None:
    path = run("config", "path").stdout.strip()
    assert path == str(home / "config" / "config.toml")
    assert run("config", "set", "remote_folder", "/Brew").exit_code == 0
    rows = {r["key"]: r for r in run_json("config", "show")["settings"]}
    assert rows["remote_folder"]["value"] == "/Brew"
    assert rows["remote_folder"]["source"] == "config"
    assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
    assert run("config", "unset", "remote_folder").exit_code == 0
    rows = {r["key"]: r for r in run_json("config", "show")["settings"]}
    assert rows["remote_folder"]["value"] == "/Fermentrack Backups"


def test_config_set_rejects_unknown_keys_with_the_valid_list() -> None:
    result = run("config", "set", "nope", "1")
    assert result.exit_code == ExitCode.USAGE
    assert "valid keys:" in result.stderr
    assert "dropbox.app_key" in result.stderr


def test_app_secret_is_never_taken_on_the_command_line() -> None:
    result = run("config", "set", "dropbox.app_secret", "topsecret")
    assert result.exit_code == ExitCode.USAGE
    assert "topsecret" not in result.output


def test_app_secret_is_read_from_stdin_and_shown_masked(home: Path) -> None:
    result = run("config", "set", "dropbox.app_secret", input="very-secret-value\n")
    assert result.exit_code == 0
    assert "very-secret-value" not in result.output
    shown = run("config", "show")
    assert "very-secret-value" not in shown.output
    assert "***" in shown.stdout
    assert 'app_secret = "very-secret-value"' in (home / "config" / "config.toml").read_text()


def test_malformed_config_is_a_usage_error_naming_file_and_line(home: Path) -> None:
    cfg = home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("remote_folder = \n")
    result = run("providers")
    assert result.exit_code == ExitCode.USAGE
    assert str(cfg) in result.stderr
    assert "line 1" in result.stderr


def test_config_option_points_elsewhere(tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    assert run("--config", str(other), "config", "set", "dropbox.app_key", "k").exit_code == 0
    assert other.exists()
    assert run_json("--config", str(other), "providers")["providers"][0]["is_enabled"] is True
    assert run_json("providers")["providers"][0]["is_enabled"] is False


def test_target_full_removes_the_partial_file(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    dest = tmp_path / "dest"
    real_write = os.write

    def fail_write(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    from fermentrack_backup_cli.providers.local import target as local

    class FullFile:
        def __init__(self, *a: object, **k: object) -> None:
            self._f = open(*a, **k)  # noqa: SIM115

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self._f, name)

    monkeypatch.setattr(local.os, "fdopen", lambda fd, mode: FullFile(fd, mode))
    del real_write, fail_write
    result = run("upload", str(sample), "--to", f"local:{dest}", "--mkdir")
    assert result.exit_code == ExitCode.INSUFFICIENT_SPACE
    assert "not enough space in " in result.stderr  # with the sizes: need, free
    assert "(the disk filled up during the copy, at 0 B)" in result.stderr
    folder = dest / "Fermentrack Backups"
    assert list(folder.iterdir()) == []
    assert (
        json.loads(run("uploads", "--json").stdout)["uploads"][0]["error_code"]
        == "insufficient_space"
    )
