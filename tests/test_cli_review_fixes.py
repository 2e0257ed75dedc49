"""Regressions found in review: --to dropbox, labels, doctor, timeouts, status with nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run, run_json


def test_to_dropbox_names_the_one_dropbox_connection(
    fake_dropbox: Any, make_dropbox_conn: Any, sample: Path, tmp_path: Path
) -> None:
    make_dropbox_conn(label="Fake Brewer (brewer@example.com)")
    (tmp_path / "usb").mkdir()
    run("link", "local", str(tmp_path / "usb"), "--label", "usb")
    result = run_json("upload", str(sample), "--to", "dropbox")["uploads"]
    assert result[0]["status"] == "completed"
    assert run("remote", "ls", "--to", "dropbox").exit_code == 0
    assert run_json("upload", str(sample), "--to", "local")["uploads"][0]["status"] == "completed"


def test_to_a_provider_with_two_connections_is_ambiguous(tmp_path: Path, sample: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        run("link", "local", str(tmp_path / name), "--label", name)
    result = run("upload", str(sample), "--to", "local")
    assert result.exit_code == ExitCode.USAGE
    assert "candidates" in result.stderr


def test_an_explicit_label_that_is_taken_is_refused_not_renamed(
    fake_dropbox: Any, tmp_path: Path
) -> None:
    from tests.link_support import code_shown

    (tmp_path / "usb").mkdir()
    run("link", "local", str(tmp_path / "usb"), "--label", "cloud")
    run("config", "set", "token_store", "file")
    url = run("link", "dropbox", "--print-url", "--label", "cloud").stdout.strip()
    result = run("link", "dropbox", "--code", code_shown(fake_dropbox, url), "--label", "cloud")
    assert result.exit_code == ExitCode.USAGE
    assert "already exists" in result.stderr


def test_doctor_reports_a_bad_env_file_instead_of_stopping(tmp_path: Path, home: Path) -> None:
    config = home / "config" / "config.toml"  # (config set refuses a missing env_file)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'env_file = "{tmp_path / "missing.django"}"\n')
    result = run("doctor")
    assert result.exit_code == ExitCode.UNHEALTHY
    assert "cannot read env_file" in result.output
    assert "ok: python" in result.stdout  # the other checks still ran


def test_env_file_is_stored_as_an_absolute_path(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".django").write_text("DROPBOX_APP_KEY=k\n")
    run("config", "set", "env_file", ".django")
    rows = {r["key"]: r for r in run_json("config", "show")["settings"]}
    assert rows["env_file"]["value"] == str(tmp_path / ".django")


def test_link_timeout_must_be_a_finite_number_of_seconds() -> None:
    for bad in ("nan", "inf", "601"):
        result = run("link", "dropbox", "--timeout", bad, env={"DROPBOX_APP_KEY": "k"})
        assert result.exit_code == ExitCode.USAGE, bad
        # the option itself is refused (not some later step that also exits 2)
        assert result.stderr.startswith("error: invalid --timeout"), result.stderr


def test_download_of_a_directory_named_like_a_backup_is_not_found(tmp_path: Path) -> None:
    stored = tmp_path / "dest" / "Fermentrack Backups" / "dir.tar.xz"
    stored.mkdir(parents=True)
    result = run(
        "download",
        "dir.tar.xz",
        "--to",
        f"local:{tmp_path / 'dest'}",
        "--output",
        str(tmp_path / "r"),
    )
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "unexpected" not in result.output


def test_status_with_max_age_and_nothing_linked_is_unhealthy() -> None:
    result = run("status", "--max-age", "26h")
    assert result.exit_code == ExitCode.UNHEALTHY
    assert run("status").exit_code == 0
