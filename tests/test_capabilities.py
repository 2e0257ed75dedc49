"""Core code follows the target's declared capabilities, not the provider's name.

A linked local folder used to get Dropbox's case-insensitive name rules: with
`backup.tar.xz` stored, `Backup.tar.xz` failed "already exists with different content"
to the linked folder and succeeded to `local:` on the same folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli import contenthash
from fermentrack_backup_cli.config import DEFAULT_REMOTE_FOLDER
from fermentrack_backup_cli.providers.local.target import LocalTarget
from tests.cli_helpers import run, run_json

FOLDER = DEFAULT_REMOTE_FOLDER.strip("/")


def _two_cases(src: Path) -> tuple[Path, Path]:
    lower = src / "lower" / "backup.tar.xz"
    upper = src / "upper" / "Backup.tar.xz"
    for path in (lower, upper):
        path.parent.mkdir(parents=True)
        path.write_bytes(os.urandom(1000))
    return lower, upper


@pytest.mark.parametrize("linked", [True, False], ids=["linked folder", "local:DIR"])
def test_names_differing_by_case_are_two_files_on_a_case_sensitive_folder(
    tmp_path: Path, linked: bool
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    to = "usb" if linked else f"local:{usb}"
    if linked:
        assert run("link", "local", str(usb), "--label", "usb").exit_code == 0
    lower, upper = _two_cases(tmp_path / "src")
    for path in (lower, upper):
        result = run("upload", str(path), "--to", to, "--no-check")
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (usb / FOLDER).iterdir()) == ["Backup.tar.xz", "backup.tar.xz"]
    statuses = [r["status"] for r in run_json("uploads")["uploads"]]
    assert statuses == ["completed", "completed"]


def test_the_local_folder_declares_what_its_filesystem_does(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "Usb", DEFAULT_REMOTE_FOLDER, "local")
    target.root.mkdir()
    caps = target.capabilities
    assert caps.case_sensitive  # ext4 under the tests
    assert caps.hash_kind == contenthash.KIND
    assert not caps.resumable_uploads and caps.reports_space and not caps.lists_hashes
    assert caps.key("Backup.tar.xz") == "Backup.tar.xz"
    assert caps.name_rules.problem("a\x1b[31m.tar.xz") is None  # ext4 stores any byte but / and NUL
    assert caps.name_rules.problem("a/b.tar.xz") is not None


def test_dropbox_declares_case_insensitive_names_and_its_own_name_rules(
    make_dropbox_conn: Any,
) -> None:
    from fermentrack_backup_cli.core.context import Context
    from tests.cli_helpers import target_of

    caps = target_of(Context.create(), make_dropbox_conn()).capabilities
    assert not caps.case_sensitive and caps.resumable_uploads and caps.lists_hashes
    assert caps.key("Backup.tar.xz") == caps.key("backup.tar.xz")
    for refused in ("desktop.ini", "a.tar.xz ", "a.tar.xz.", "a\x07.tar.xz", "x" * 256):
        assert caps.name_rules.problem(refused) is not None, refused
