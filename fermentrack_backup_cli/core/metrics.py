"""`status --prometheus FILE`: each connection's status as Prometheus metrics.

The text exposition format node_exporter's textfile collector reads: `# HELP` and
`# TYPE` lines, then one sample per connection labelled `connection_id`, `label` and
`provider`. Names follow Prometheus conventions (`fermentrack_backup_` prefix, base
units in the name: `_seconds`, `_bytes`; times as `_timestamp_seconds`, Unix time). A
value the status does not know (no success yet; stored backups with --offline) has no
sample, so an alert can tell "never" from "zero". The file is written atomically (a temp
file beside it, renamed over it), so the collector never reads half of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import errors
from ..fsutil import atomic_write, blame
from ..models import parse_iso, utcnow
from .status import ConnectionStatus

PREFIX = "fermentrack_backup_"
FILE_MODE = 0o644  # node_exporter runs as another user

Value = Callable[[ConnectionStatus, datetime], float | None]


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    value: Value


def _seconds(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


def _stored(key: str) -> Value:
    def value(s: ConnectionStatus, now: datetime) -> float | None:
        stored = s.extra.get("stored") or {}
        found = stored.get(key)
        return None if found is None else float(found)

    return value


def _newest_time(s: ConnectionStatus, now: datetime) -> float | None:
    stored = s.extra.get("stored") or {}
    return _seconds(parse_iso(stored.get("newest_time")))


def _newest_age(s: ConnectionStatus, now: datetime) -> float | None:
    newest = _newest_time(s, now)
    return None if newest is None else max(0.0, now.timestamp() - newest)


def _duration(s: ConnectionStatus, now: datetime) -> float | None:
    rec = s.last_success
    if rec is None or rec.finished_at is None:
        return None
    return max(0.0, (rec.finished_at - rec.started_at).total_seconds())


def _size(s: ConnectionStatus, now: datetime) -> float | None:
    rec = s.last_success
    return None if rec is None or rec.size is None else float(rec.size)


def _last(attr: str) -> Value:
    def value(s: ConnectionStatus, now: datetime) -> float | None:
        rec = getattr(s, attr)
        return None if rec is None else _seconds(rec.finished_at or rec.started_at)

    return value


METRICS = (
    Metric(
        "healthy",
        "1 when status found no problem with the connection, else 0.",
        lambda s, now: float(s.healthy),
    ),
    Metric(
        "needs_relink",
        "1 when the connection must be linked again (its token was refused), else 0.",
        lambda s, now: float(s.state == "needs_relink"),
    ),
    Metric(
        "last_success_timestamp_seconds",
        "When the last successful upload finished (Unix time).",
        _last("last_success"),
    ),
    Metric(
        "last_failure_timestamp_seconds",
        "When the last failed upload ended (Unix time).",
        _last("last_failure"),
    ),
    Metric(
        "last_upload_duration_seconds",
        "How long the last successful upload took.",
        _duration,
    ),
    Metric("last_upload_size_bytes", "The size of the last successfully uploaded archive.", _size),
    Metric(
        "stored_backups",
        "Backup archives stored at the target (online checks only).",
        _stored("count"),
    ),
    Metric(
        "stored_size_bytes",
        "Total size of the backup archives stored at the target (online checks only).",
        _stored("total_size"),
    ),
    Metric(
        "newest_backup_timestamp_seconds",
        "The backup time of the newest real stored backup (Unix time; online checks only).",
        _newest_time,
    ),
    Metric(
        "newest_backup_age_seconds",
        "Age of the newest real stored backup when status ran (online checks only).",
        _newest_age,
    ),
)


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(s: ConnectionStatus) -> str:
    pairs = (("connection_id", s.id), ("label", s.label), ("provider", s.provider))
    return ",".join(f'{key}="{_label_value(value)}"' for key, value in pairs)


def _number(value: float) -> str:
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def prometheus_text(statuses: Iterable[ConnectionStatus], now: datetime | None = None) -> str:
    """The metrics of `statuses` in the Prometheus text format (a family per metric)."""
    now = now or utcnow()
    statuses = list(statuses)
    lines: list[str] = []
    for metric in METRICS:
        samples = [(s, metric.value(s, now)) for s in statuses]
        known = [(s, v) for s, v in samples if v is not None]
        if not known:
            continue
        name = PREFIX + metric.name
        lines += [f"# HELP {name} {metric.help}", f"# TYPE {name} gauge"]
        lines += [f"{name}{{{_labels(s)}}} {_number(v)}" for s, v in known]
    return "".join(f"{line}\n" for line in lines)


def check_metrics_path(path: Path) -> None:
    """Refuse a --prometheus path that is not (yet) a regular file: the atomic rename
    would replace a device (/dev/full, as root), a FIFO or a socket with a plain file,
    and a folder cannot take it at all."""
    if path.name in ("", ".", "..") or (path.exists() and not path.is_file()):
        what = "a folder" if path.is_dir() else "not a regular file"
        raise errors.UsageError(
            f"--prometheus {path} is {what}",
            "give a file name ending in .prom in node_exporter's textfile folder",
        )


def write_metrics(path: Path, statuses: Iterable[ConnectionStatus]) -> None:
    """Write the metrics file atomically, readable by node_exporter (mode 0644)."""
    check_metrics_path(path)
    if not path.parent.is_dir():
        raise errors.NotFound(
            f"no such folder: {path.parent} (for --prometheus {path})",
            "give a file in node_exporter's --collector.textfile.directory, which must exist",
        )
    with blame("write", path):
        atomic_write(path, prometheus_text(statuses).encode(), FILE_MODE)
