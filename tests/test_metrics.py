"""`status --prometheus FILE`: node_exporter textfile metrics, read back with the
Prometheus client's own text-format parser."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fermentrack_backup_cli.core.metrics import prometheus_text
from fermentrack_backup_cli.core.status import ConnectionStatus
from fermentrack_backup_cli.errors import ExitCode
from fermentrack_backup_cli.models import UploadRecord
from tests.cli_helpers import history, run
from tests.samples import make_backup

PREFIX = "fermentrack_backup_"


def samples(path: Path) -> dict[tuple[str, str], float]:
    """(metric name, connection label) -> value, parsed by prometheus_client."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(path.read_text()):
        assert family.name.startswith(PREFIX)
        assert family.type == "gauge"
        assert family.documentation  # a HELP line
        for sample in family.samples:
            assert set(sample.labels) == {"connection_id", "label", "provider"}
            found[(sample.name, sample.labels["label"])] = sample.value
    return found


@pytest.fixture
def textfile_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "textfile_collector"
    folder.mkdir()
    return folder


def test_status_writes_every_metric_per_connection(
    tmp_path: Path,
    textfile_dir: Path,
    fake_dropbox: Any,
    make_dropbox_conn: Callable[..., Any],
) -> None:
    src = tmp_path / "backups"
    archive = make_backup(src)
    usb = tmp_path / "usb"
    usb.mkdir()
    assert run("link", "local", str(usb), "--label", "usb").exit_code == 0
    make_dropbox_conn("cloud")
    assert run("upload", str(src), "--to", "usb").exit_code == 0
    metrics = textfile_dir / "fermentrack_backup.prom"

    result = run("status", "--prometheus", str(metrics))

    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the metrics file is the report
    got = samples(metrics)
    (row,) = [r for r in history() if r.status == "completed"]
    assert row.finished_at is not None
    assert got[(PREFIX + "last_success_timestamp_seconds", "usb")] == int(
        row.finished_at.timestamp()
    )
    assert got[(PREFIX + "last_upload_size_bytes", "usb")] == archive.stat().st_size
    assert got[(PREFIX + "last_upload_duration_seconds", "usb")] >= 0
    assert got[(PREFIX + "stored_backups", "usb")] == 1
    assert got[(PREFIX + "stored_size_bytes", "usb")] == archive.stat().st_size
    backup_time = datetime(2026, 11, 27, 3, tzinfo=UTC).timestamp()
    assert got[(PREFIX + "newest_backup_timestamp_seconds", "usb")] == backup_time
    assert got[(PREFIX + "newest_backup_age_seconds", "usb")] > 0
    assert got[(PREFIX + "stored_backups", "cloud")] == 0
    for label in ("usb", "cloud"):
        assert got[(PREFIX + "healthy", label)] == 1
        assert got[(PREFIX + "needs_relink", label)] == 0
    # never succeeded, never failed: no sample rather than a misleading 0
    assert (PREFIX + "last_success_timestamp_seconds", "cloud") not in got
    assert not any(name == PREFIX + "last_failure_timestamp_seconds" for name, _ in got)
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o644  # node_exporter is another user


def test_status_offline_writes_metrics_from_the_history_without_the_network(
    tmp_path: Path,
    textfile_dir: Path,
    fake_dropbox: Any,
    make_dropbox_conn: Callable[..., Any],
) -> None:
    make_dropbox_conn("cloud")
    path = make_backup(tmp_path / "backups")
    assert run("upload", str(path), "--to", "cloud", "--no-check").exit_code == 0
    fake_dropbox.requests.clear()
    metrics = textfile_dir / "fermentrack_backup.prom"

    assert run("status", "--offline", "--prometheus", str(metrics)).exit_code == 0

    assert fake_dropbox.requests == []
    got = samples(metrics)
    assert got[(PREFIX + "healthy", "cloud")] == 1
    assert (PREFIX + "last_success_timestamp_seconds", "cloud") in got
    assert not any(name.startswith(PREFIX + "stored_") for name, _ in got)  # online only


def test_status_offline_prometheus_never_imports_the_dropbox_sdk(
    subprocess_env: dict[str, str],
    textfile_dir: Path,
    fake_dropbox: Any,
    make_dropbox_conn: Callable[..., Any],
) -> None:
    make_dropbox_conn("cloud")  # (its token is in the in-process keyring: offline never reads it)
    metrics = textfile_dir / "fermentrack_backup.prom"
    argv = ["status", "--offline", "--prometheus", str(metrics)]
    code = textwrap.dedent(f"""
        import sys
        from fermentrack_backup_cli.cli import app
        try:
            app({argv!r})
        except SystemExit as exc:
            code = exc.code
        assert not [m for m in sys.modules if m.split(".")[0] == "dropbox"], "imported dropbox"
        sys.exit(code or 0)
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert samples(metrics)[(PREFIX + "healthy", "cloud")] == 1


def test_a_refused_token_is_needs_relink_1_and_healthy_0_and_still_exits_unhealthy(
    textfile_dir: Path, fake_dropbox: Any, make_dropbox_conn: Callable[..., Any]
) -> None:
    make_dropbox_conn("cloud")
    fake_dropbox.revoke_all_tokens()
    metrics = textfile_dir / "fermentrack_backup.prom"

    result = run("status", "--prometheus", str(metrics))

    assert result.exit_code == ExitCode.UNHEALTHY
    got = samples(metrics)
    assert got[(PREFIX + "needs_relink", "cloud")] == 1
    assert got[(PREFIX + "healthy", "cloud")] == 0


def test_the_metrics_file_is_replaced_by_a_rename_never_rewritten_in_place(
    tmp_path: Path, textfile_dir: Path
) -> None:
    assert run("link", "local", str(tmp_path), "--label", "usb").exit_code == 0
    metrics = textfile_dir / "fermentrack_backup.prom"
    metrics.write_text("# an older run's metrics\n")
    reader = metrics.open()  # node_exporter in the middle of reading the old file
    before = metrics.stat().st_ino

    assert run("status", "--offline", "--prometheus", str(metrics)).exit_code == 0

    assert metrics.stat().st_ino != before
    assert reader.read() == "# an older run's metrics\n"  # the old file is untouched
    reader.close()
    assert sorted(p.name for p in textfile_dir.iterdir()) == [metrics.name]  # no temp left
    assert samples(metrics)[(PREFIX + "healthy", "usb")] == 1


def test_json_and_prometheus_together_print_the_json_and_write_the_file(
    tmp_path: Path, textfile_dir: Path
) -> None:
    assert run("link", "local", str(tmp_path), "--label", "usb").exit_code == 0
    metrics = textfile_dir / "fermentrack_backup.prom"
    result = run("status", "--offline", "--json", "--prometheus", str(metrics))
    assert result.exit_code == 0
    assert '"schema_version": 1' in result.stdout
    assert samples(metrics)[(PREFIX + "healthy", "usb")] == 1


def test_a_missing_textfile_folder_is_an_error_with_a_hint_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "no-such-dir" / "fermentrack_backup.prom"
    result = run("status", "--offline", "--prometheus", str(metrics))
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "error: no such folder" in result.stderr
    assert "hint: " in result.stderr
    assert not metrics.parent.exists()


def test_a_file_node_exporter_would_ignore_gets_a_warning(tmp_path: Path) -> None:
    result = run("status", "--offline", "--prometheus", str(tmp_path / "metrics.txt"))
    assert result.exit_code == 0
    assert "warning: metrics.txt: node_exporter's textfile collector reads only *.prom" in (
        result.stderr
    )
    assert (tmp_path / "metrics.txt").exists()


def _status(label: str, **changes: Any) -> ConnectionStatus:
    finished = datetime(2026, 11, 27, 3, 5, tzinfo=UTC)
    record = UploadRecord(
        id=1,
        connection_id="c1",
        local_path="/b/a.tar.xz",
        remote_path="/r/a.tar.xz",
        size=1234,
        content_hash=None,
        status="completed",
        started_at=finished - timedelta(seconds=90),
        finished_at=finished,
    )
    values: dict[str, Any] = {
        "id": "c1",
        "label": label,
        "provider": "local",
        "state": "ok",
        "token_store": None,
        "healthy": True,
        "problems": (),
        "last_success": record,
        "last_failure": None,
        "extra": {},
    }
    values.update(changes)
    return ConnectionStatus(**values)


def test_label_values_with_quotes_and_backslashes_are_escaped_and_parse_back() -> None:
    text = prometheus_text([_status('my "usb" \\ drive')], now=datetime(2026, 11, 28, tzinfo=UTC))
    (family,) = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == PREFIX + "last_upload_duration_seconds"
    ]
    (sample,) = family.samples
    assert sample.labels["label"] == 'my "usb" \\ drive'
    assert sample.value == 90


def test_an_empty_status_writes_an_empty_but_valid_file(tmp_path: Path) -> None:
    assert prometheus_text([]) == ""
    metrics = tmp_path / "fermentrack_backup.prom"
    assert run("status", "--offline", "--prometheus", str(metrics)).exit_code == 0
    assert metrics.read_text() == ""
    assert os.access(metrics, os.R_OK)


@pytest.mark.parametrize("kind", ["fifo", "folder", "empty"])
def test_a_prometheus_path_that_is_not_a_regular_file_is_refused_and_left_alone(
    tmp_path: Path, kind: str
) -> None:
    """As root, `--prometheus /dev/full` once renamed a plain file over the device node."""
    target = tmp_path / "metrics.prom"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    result = run("status", "--offline", "--prometheus", "" if kind == "empty" else str(target))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.startswith("error: --prometheus "), result.stderr
    assert "hint: " in result.stderr and "warning" not in result.stderr
    if kind == "fifo":
        assert stat.S_ISFIFO(target.stat().st_mode)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "fb-home")
    assert left == ([] if kind == "empty" else [target.name])  # no temp file left beside it
