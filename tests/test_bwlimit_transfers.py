"""`--bwlimit` end to end: uploads to the fake Dropbox (one bucket for every in-flight
chunk), a download, a copy to a local folder, and bad values refused in one line.

The limiter guarantees a floor (a burst of half a second, then the rate), so these
tests assert that floor and only a generous ceiling; the exact pacing is tested on a
fake clock in test_bandwidth.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.bandwidth import BURST_S
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run

KIB = 1024
MIB = 1024 * KIB
FOLDER = "/Fermentrack Backups"
CEILING_S = 60.0  # a loaded CI machine: only a hang fails


def floor_s(nbytes: int, rate: int) -> float:
    """The least time the limiter lets `nbytes` take at `rate` (less a margin)."""
    return (nbytes - rate * BURST_S) / rate * 0.95


def archive(folder: Path, size: int, name: str = "2026-12-01.tar.xz") -> tuple[Path, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    (folder / name).write_bytes(data)
    return folder / name, data


def timed(*args: str) -> tuple[Any, float]:
    started = time.monotonic()
    result = run(*args)
    return result, time.monotonic() - started


def test_an_upload_at_512k_takes_as_long_as_the_limit_says(
    fake_dropbox: Any, make_dropbox_conn: Any, tmp_path: Path
) -> None:
    make_dropbox_conn()
    path, data = archive(tmp_path / "b", MIB)
    result, took = timed("upload", str(path), "--to", "dropbox", "--no-check", "--bwlimit", "512k")
    assert result.exit_code == 0, result.output
    assert floor_s(MIB, 512 * KIB) <= took < CEILING_S
    assert fake_dropbox.read_file(f"{FOLDER}/{path.name}") == data
    (sent,) = fake_dropbox.requests_to("files/upload")
    assert sent.headers.get("Content-Length") == str(MIB)  # paced, not chunked
    assert "Transfer-Encoding" not in sent.headers


def test_parallel_chunks_share_one_limit(
    fake_dropbox: Any, make_dropbox_conn: Any, tmp_path: Path
) -> None:
    """Two chunks in flight at once still add up to the limit, not twice it."""
    make_dropbox_conn()
    path, data = archive(tmp_path / "b", 8 * MIB)
    result, took = timed(
        "upload", str(path), "--to", "dropbox", "--no-check", "--chunk-size", "4",
        "--parallel", "2", "--bwlimit", "4M",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert floor_s(8 * MIB, 4 * MIB) <= took < CEILING_S
    assert fake_dropbox.read_file(f"{FOLDER}/{path.name}") == data


def test_a_download_honours_the_configured_limit(
    fake_dropbox: Any, make_dropbox_conn: Any, tmp_path: Path
) -> None:
    make_dropbox_conn()
    data = os.urandom(MIB)
    fake_dropbox.put_file(f"{FOLDER}/a.tar.xz", data)
    assert run("config", "set", "upload.bwlimit", "512k").exit_code == 0
    result, took = timed("download", "a.tar.xz", "--to", "dropbox", "-o", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert floor_s(MIB, 512 * KIB) <= took < CEILING_S
    assert (tmp_path / "r" / "a.tar.xz").read_bytes() == data


def test_bwlimit_off_on_the_command_line_wins_over_the_config(
    fake_dropbox: Any, make_dropbox_conn: Any, tmp_path: Path
) -> None:
    make_dropbox_conn()
    fake_dropbox.put_file(f"{FOLDER}/a.tar.xz", os.urandom(4 * MIB))
    assert run("config", "set", "upload.bwlimit", "1k").exit_code == 0  # would take an hour
    result = run(
        "download", "a.tar.xz", "--to", "dropbox", "-o", str(tmp_path / "r"), "--bwlimit", "off"
    )
    assert result.exit_code == 0, result.output


def test_a_copy_to_a_local_folder_honours_the_limit(tmp_path: Path) -> None:
    """A NAS mount is a shared link too."""
    path, data = archive(tmp_path / "b", MIB)
    usb = tmp_path / "usb"
    usb.mkdir()
    result, took = timed(
        "upload", str(path), "--to", f"local:{usb}", "--no-check", "--bwlimit", "512k", "--json"
    )
    assert result.exit_code == 0, result.output
    assert floor_s(MIB, 512 * KIB) <= took < CEILING_S
    (item,) = json.loads(result.stdout)["uploads"]
    assert Path(item["remote_path"]).read_bytes() == data


@pytest.mark.parametrize("value", ["5X", "-1M", "nan", "25:00,1M", "08:00,1M 08:00,2M"])
def test_a_bad_bwlimit_is_one_error_line_and_a_hint(value: str, tmp_path: Path) -> None:
    path, _ = archive(tmp_path / "b", KIB)
    option = run("upload", str(path), "--to", f"local:{tmp_path}", f"--bwlimit={value}")
    assert option.exit_code == ExitCode.USAGE
    lines = option.stderr.strip().splitlines()
    assert len(lines) == 2, option.stderr
    assert lines[0].startswith("error: invalid --bwlimit: ")
    assert lines[1].startswith("hint: ") and "512k" in lines[1]
    config = run("config", "set", "upload.bwlimit", "--", value)
    assert config.exit_code != 0
    lines = config.stderr.strip().splitlines()
    assert len(lines) == 2, config.stderr
    assert lines[0].startswith("error: invalid value for upload.bwlimit: ")
    assert "Traceback" not in config.output


def test_a_timetable_is_stored_in_config_as_given(tmp_path: Path) -> None:
    assert run("config", "set", "upload.bwlimit", "08:00,1M  23:00,off").exit_code == 0
    shown = json.loads(run("config", "show", "--json").stdout)
    assert "08:00,1M 23:00,off" in json.dumps(shown)


@pytest.mark.parametrize("toml", ["512", "1.5", "nan"])
def test_an_unquoted_rate_in_config_toml_says_to_quote_it(
    toml: str, tmp_path: Path, home: Path
) -> None:
    path, _ = archive(tmp_path / "b", KIB)
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(f"[upload]\nbwlimit = {toml}\n")
    result = run("upload", str(path), "--to", f"local:{tmp_path}")
    assert result.exit_code == ExitCode.USAGE, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0] == (
        "error: invalid value for upload.bwlimit: a rate is text with its unit: quote it, "
        'e.g. bwlimit = "512k"'
    )
    assert lines[1].startswith("hint: ")
