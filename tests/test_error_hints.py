"""Errors that used to come without a hint (issue 10): each says what to do next."""

from __future__ import annotations

from pathlib import Path

import pytest
from dropbox import exceptions as dbx_exc
from dropbox import files as dbx_files

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.providers.dropbox.convert import convert
from tests.cli_helpers import run
from tests.samples import SAMPLE


def test_a_dropbox_400_while_deleting_has_a_hint() -> None:
    refused = convert(dbx_exc.BadInputError("req-1", "Error in call to API"), "deleting x")
    assert refused.code == "bad_input" and "400" in refused.message
    assert refused.hint and "--debug" in refused.hint


def test_an_unrecognised_dropbox_api_error_has_a_hint() -> None:
    error = dbx_files.DeleteError.too_many_files  # no mapping of its own: the fallback
    refused = convert(dbx_exc.ApiError("req-2", error, None, None), "deleting x")
    assert refused.code == "dropbox_api" and refused.hint


@pytest.mark.parametrize("fault", ["500", "429"])
def test_a_retried_dropbox_failure_has_a_hint_if_it_ever_shows(fault: str) -> None:
    status = int(fault)
    exc: Exception = (
        dbx_exc.InternalServerError("r", status, "boom")
        if status == 500
        else dbx_exc.HttpError("r", status, "slow down")
    )
    assert isinstance(convert(exc, "uploading x"), errors.Transient)
    assert convert(exc, "uploading x").hint


def test_download_into_a_file_says_output_is_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "usb"
    target.mkdir()
    assert run("upload", str(SAMPLE), "--to", f"local:{target}").exit_code == 0
    existing = tmp_path / "restored.tar.xz"
    existing.write_bytes(b"mine")
    result = run("download", SAMPLE.name, "--to", f"local:{target}", "-o", str(existing))
    assert result.exit_code == errors.ExitCode.USAGE, result.output
    assert result.stderr.splitlines() == [
        f"error: --output {existing} is a file, not a folder",
        f"hint: -o names the folder to save {SAMPLE.name} in: pass its folder, e.g. -o {tmp_path}",
    ]
    assert existing.read_bytes() == b"mine"
