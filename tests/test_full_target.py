"""A local target whose disk fills up while an archive is copied (another writer): exit 8,
the sizes in human units, no temp file and nothing at the final name."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import history, run

MIB = 1024 * 1024
NAME = "2026-11-27T03.00.00.tar.xz"


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (needs root and mount: skipped elsewhere)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("making a tiny filesystem (a tmpfs) needs root and mount")
    root = tmp_path / "tiny"
    root.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)]
    mounted = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", str(root)], check=True)


def fill_when_copying(root: Path, folder: Path) -> threading.Thread:
    """Once the copy's temp file appears in `folder`, fill the filesystem outside it."""

    def fill() -> None:
        deadline = time.monotonic() + 30
        while not (folder.is_dir() and any(folder.iterdir())):
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        with (root / "filler").open("wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    thread = threading.Thread(target=fill, daemon=True)
    thread.start()
    return thread


def test_a_disk_filling_up_during_the_copy_is_exit_8_with_sizes(tiny: Path, tmp_path: Path) -> None:
    source = tmp_path / "backups" / NAME
    source.parent.mkdir()
    source.write_bytes(os.urandom(3 * MIB))  # fits the 4 MiB disk when the copy starts
    dest = tiny / "usb"
    folder = dest / "Fermentrack Backups"
    filler = fill_when_copying(tiny, folder)
    result = run(
        "upload", str(source), "--to", f"local:{dest}", "--mkdir", "--no-check",
        "--bwlimit", "1M",
    )  # fmt: skip
    filler.join(timeout=30)
    assert result.exit_code == ExitCode.INSUFFICIENT_SPACE, result.output
    assert "need 3.0 MiB" in result.stderr, result.stderr
    assert "free (the disk filled up during the copy, at " in result.stderr, result.stderr
    assert "hint: free some space" in result.stderr
    assert list(folder.iterdir()) == []  # no temp file, nothing at the final name
    assert history()[0].error_code == "insufficient_space"
