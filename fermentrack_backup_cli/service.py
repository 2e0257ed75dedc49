"""Use cases beyond upload: verify archives (and their stored copies), status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .app import App
from .models import ArchiveReport, UploadRecord, iso, utcnow
from .pipeline import expand_paths
from .providers.base import Target


def verify_paths(app: App, paths: Sequence[Path], to: str | None) -> list[ArchiveReport]:
    """Check each archive; with `to`, also that the stored copy matches it."""
    from .archive import verify_file

    files = expand_paths(paths, allow_any=True)
    target: Target | None = app.target_for(to)[0] if to is not None else None
    reports = []
    for path in files:
        report = verify_file(path)
        if target is not None and report.content_hash is not None:
            report = _compare_stored(target, report, path.name)
        reports.append(report)
    return reports


def _compare_stored(target: Target, report: ArchiveReport, name: str) -> ArchiveReport:
    stored = target.stat(name)
    if stored is None:
        problem, code = f"no stored copy at {target.remote_path(name)}", "remote_missing"
    elif stored.size != report.size:
        problem = f"stored copy is {stored.size} bytes, local is {report.size}"
        code = "verify_mismatch"
    elif stored.content_hash != report.content_hash:
        problem, code = (
            "stored copy's content hash differs from the local archive",
            "verify_mismatch",
        )
    else:
        return report
    return replace(
        report, ok=False, problems=(*report.problems, problem), error_code=report.error_code or code
    )


@dataclass(frozen=True)
class ConnectionStatus:
    id: str
    label: str
    provider: str
    state: str
    token_store: str | None
    healthy: bool
    problems: tuple[str, ...]
    last_success: UploadRecord | None
    last_failure: UploadRecord | None
    extra: dict[str, Any]

    @property
    def last_success_age_s(self) -> float | None:
        if self.last_success is None or self.last_success.finished_at is None:
            return None
        return (utcnow() - self.last_success.finished_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        def upload(rec: UploadRecord | None) -> dict[str, Any] | None:
            if rec is None:
                return None
            return {
                "time": iso(rec.finished_at or rec.started_at),
                "file": rec.local_path,
                "remote_path": rec.remote_path,
                "error_code": rec.error_code,
                "error_message": rec.error_message,
            }

        return {
            "id": self.id,
            "label": self.label,
            "provider": self.provider,
            "state": self.state,
            "token_store": self.token_store,
            "healthy": self.healthy,
            "problems": list(self.problems),
            "last_success": upload(self.last_success),
            "last_success_age_s": self.last_success_age_s,
            "last_failure": upload(self.last_failure),
            **self.extra,
        }


def connection_status(
    app: App,
    conn_ref: str | None = None,
    *,
    max_age_s: float | None = None,
    offline: bool = False,
) -> list[ConnectionStatus]:
    """Each connection's health; online checks unless `offline` (history only)."""
    from .health import check, store_changed

    conns = [app.resolve(conn_ref)] if conn_ref else app.history.connections()
    statuses = []
    for conn in conns:
        health = check(app, conn, offline=offline)
        conn = app.history.get_connection(conn.id) or conn  # a check may mark needs_relink
        success = app.history.last_upload(conn.id, "completed")
        failure = app.history.last_upload(conn.id, "failed")
        problems: list[str] = []
        if conn.state != "ok":
            problems.append(
                f"state is {conn.state}: run `fermentrack-backup link {conn.provider}` again"
            )
        if not (conn.state == "needs_relink" and health.extra.get("error_code") == "needs_relink"):
            problems.extend(health.problems)  # (the state line above already says it)
        changed = store_changed(app, conn)
        if changed:
            problems.append(f"{changed[0]} ({changed[1]})")
        status = ConnectionStatus(
            conn.id,
            conn.label,
            conn.provider,
            conn.state,
            conn.token_store,
            True,
            (),
            success,
            failure,
            health.extra,
        )
        age = status.last_success_age_s
        if max_age_s is not None and (age is None or age > max_age_s):
            problems.append(
                "no successful upload yet"
                if age is None
                else f"last successful upload is {int(age)}s old (limit {int(max_age_s)}s)"
            )
        statuses.append(replace(status, healthy=not problems, problems=tuple(problems)))
    return statuses
