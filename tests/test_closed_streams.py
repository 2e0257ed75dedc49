"""Issue 8, item 8: output never decides the outcome. A stdout whose reader left
(`upload DIR | head -1`), a closed stderr, or a reporter that fails stops output, not
the uploads; the history never records an output error as an archive failure."""

from __future__ import annotations

import errno
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.core.context import Context
from fermentrack_backup_cli.core.upload import UploadOptions, upload
from fermentrack_backup_cli.errors import ExitCode
from fermentrack_backup_cli.models import UploadResult
from fermentrack_backup_cli.output import Output, UploadReporter
from tests.cli_helpers import EXE, history
from tests.samples import make_backup


@pytest.fixture
def three(tmp_path: Path) -> Path:
    folder = tmp_path / "three"
    folder.mkdir()
    for day in (1, 2, 3):
        make_backup(folder, datetime(2026, 11, day, 3, tzinfo=UTC))
    return folder


def _stored(dest: Path) -> list[str]:
    return sorted(p.name for p in (dest / "Fermentrack Backups").glob("*.tar.xz"))


def test_upload_whose_stdout_reader_leaves_after_one_line_uploads_everything(
    three: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    dest = tmp_path / "dest"
    proc = subprocess.Popen(
        [EXE, "upload", str(three), "--to", f"local:{dest}", "--mkdir"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # what `head -1` reads ...
    proc.stdout.close()  # ... before it exits
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first.startswith(b"completed: ")
    assert code == 0, stderr
    assert "Broken pipe" not in stderr and "Exception ignored" not in stderr
    assert _stored(dest) == sorted(p.name for p in three.iterdir())
    rows = history()
    assert [r.status for r in rows] == ["completed"] * 3
    assert all(r.error_code is None for r in rows)


def test_upload_with_stdout_and_stderr_both_gone_still_uploads(
    three: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    dest = tmp_path / "dest"
    # the shell's `>&- 2>&-`: the process starts without fds 1 and 2
    code = subprocess.run(
        ["sh", "-c", f"exec '{EXE}' upload '{three}' --to 'local:{dest}' --mkdir >&- 2>&-"],
        env=subprocess_env,
        timeout=120,
        check=False,
    ).returncode
    assert code == 0
    assert len(_stored(dest)) == 3
    assert [r.status for r in history()] == ["completed"] * 3


def test_a_closed_stderr_does_not_change_a_failure_into_something_else(
    three: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    (three / "2026-11-04T03.00.00.tar.xz").write_bytes(b"damaged")
    dest = tmp_path / "dest"
    proc = subprocess.Popen(
        [EXE, "upload", str(three), "--to", f"local:{dest}", "--mkdir"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=subprocess_env,
    )
    assert proc.stderr is not None
    proc.stderr.close()  # nobody reads the errors any more
    code = proc.wait(timeout=120)
    assert code == ExitCode.VERIFY  # the damaged archive's own exit code
    statuses = sorted(r.status for r in history())
    assert statuses == ["completed", "completed", "completed", "failed"]
    (failed,) = [r for r in history() if r.status == "failed"]
    assert failed.error_code in ("corrupt_archive", "not_an_archive")
    assert "Broken pipe" not in (failed.error_message or "")


def test_json_output_to_a_closed_pipe_keeps_the_exit_code_of_the_uploads(
    three: Path, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    dest = tmp_path / "dest"
    proc = subprocess.Popen(
        [EXE, "upload", str(three), "--to", f"local:{dest}", "--mkdir", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away before the JSON came
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert "Exception ignored" not in stderr and "Traceback" not in stderr
    assert len(_stored(dest)) == 3


class BrokenStream(io.StringIO):
    """A stream whose reader has gone: every write fails with EPIPE."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no descriptor")


def test_output_marks_a_broken_stream_dead_and_stops_writing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdout", BrokenStream())
    monkeypatch.setattr(sys, "stderr", BrokenStream())
    out = Output()
    out.line("one")
    out.table("t", ("a",), [("b",)])
    out.data({"x": 1})
    out.fail("still no exception", "hint")
    assert out.dead == {"stdout", "stderr"}


def test_output_treats_a_missing_stream_as_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", None)
    out = Output()
    out.warn("nowhere to go")
    assert "stderr" in out.dead


class ExplodingReporter:
    """A reporter whose every call fails the way a closed terminal does."""

    def __init__(self) -> None:
        self.calls = 0

    def file_started(self, name: str, size: int) -> None:
        self.calls += 1
        raise OSError(errno.EIO, "Input/output error")

    def advance(self, nbytes: int) -> None:
        self.calls += 1
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def file_done(self, result: UploadResult, *, fatal: bool = False) -> None:
        self.calls += 1
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_the_pipeline_never_records_a_reporter_error_as_an_archive_failure(
    three: Path, tmp_path: Path
) -> None:
    app = Context.create()
    reporter = ExplodingReporter()
    try:
        results = upload(
            app.targets,
            app.db,
            [three],
            f"local:{tmp_path / 'dest'}",
            UploadOptions(mkdir=True),
            reporter,
        )
        rows = app.db.attempts.list()
    finally:
        app.close()
    assert reporter.calls >= 6
    assert [r.status for r in results] == ["completed"] * 3
    assert [r.status for r in rows] == ["completed"] * 3
    assert not any("cannot read" in (r.error_message or "") for r in rows)


def test_the_upload_reporter_itself_survives_a_broken_stdout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdout", BrokenStream())
    reporter = UploadReporter(Output())
    result: Any = UploadResult(str(tmp_path / "a.tar.xz"), "/a.tar.xz", 1, "h", "completed", "ok")
    with reporter.running():
        reporter.file_started("a.tar.xz", 1)
        reporter.advance(1)
        reporter.file_done(result)  # a broken stdout does not raise out of the reporter
    assert "stdout" in reporter.out.dead
