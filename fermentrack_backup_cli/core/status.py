"""The status use case: is every connection healthy, reachable and backing up?

Online: does the provider accept the connection (its own check: a Dropbox token
refreshes, the account answers), how much space is used, and what is stored (number
and total size of backups, the newest real backup and its age). Always, from history
alone: the last deep verification and the last success and failure. `offline=True`
makes no network calls (a linked folder is still checked: that is a local stat).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .. import errors
from ..config import Settings
from ..models import Connection, RemoteFile, UploadRecord, is_archive_name, iso, parse_iso, utcnow
from ..providers.base import Target
from ..retention import backup_time, candidates, looks_real
from ..store import Verifications
from .targets import Targets, check_policy, provider_of


@dataclass
class Health:
    """What the checks found: problems make a connection unhealthy; `extra` goes to JSON."""

    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def store_changed(settings: Settings, conn: Connection) -> tuple[str, str] | None:
    """(problem, hint) when `token_store` changed since `conn` was linked: link it again.

    The token still works from the store it was written to (every read goes there),
    but the user asked for the other store, so say so until a re-link moves it.
    """
    configured = str(settings.get("token_store"))
    if not conn.token_store or conn.token_store == configured:
        return None
    return (
        f"its token is in the {conn.token_store} store but token_store is {configured}: link again",
        f"`fermentrack-backup link {conn.provider}` moves it to the {configured} store and keeps "
        f"the connection and its history; until then it is read from the {conn.token_store} store",
    )


def check(targets: Targets, conn: Connection, *, offline: bool) -> Health:
    health = Health()
    health.extra["last_verification"] = last_verification(targets.db.verifications, conn.id)
    health.extra["checked"] = "offline" if offline else "online"
    try:
        if offline and provider_of(conn).network:
            return health
        # (a connection that needs no network, a linked folder, is checked under --offline
        # too: an unmounted stick must not look healthy)
        opened = targets.open_connection(conn, retry=check_policy())
        health.extra.update(opened.provider.check(opened.target))
        _check_storage(opened.target, health)
    except errors.BackupError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        health.problems.append(f"{exc.message}{hint}")
        health.extra["error_code"] = exc.code
    return health


def _check_storage(target: Target, health: Health) -> None:
    space = target.space()
    if space is not None:
        health.extra["space"] = {
            "used": space.used,
            "allocated": space.allocated,
            "free": space.free,
        }
    files = [f for f in target.list_files() if is_archive_name(f.name)]
    health.extra["stored"] = storage_summary(files, target.description)


def storage_summary(files: list[RemoteFile], where: str) -> dict[str, Any]:
    # the newest real backup by its backup time (retention's candidates, else the newest
    # non-empty, not future-dated file): a bogus file must not make a stale target look fresh
    real = candidates(files) or sorted(
        (f for f in files if f.modified is not None and looks_real(f)),
        key=lambda f: (f.modified, f.name),
        reverse=True,
    )
    newest = real[0] if real else None
    when = backup_time(newest) if newest is not None else None
    return {
        "target": where,
        "count": len(files),
        "total_size": sum(f.size for f in files),
        "newest": newest.name if newest else None,
        "newest_modified": iso(newest.modified) if newest else None,
        "newest_time": iso(when),
        "newest_age_s": (utcnow() - when).total_seconds() if when else None,
    }


def last_verification(verifications: Verifications, conn_id: str) -> dict[str, Any] | None:
    rows = list(verifications.by_path(conn_id).values())
    if not rows:
        return None
    latest = max(rows, key=lambda r: str(r["verified_at"]))
    when = parse_iso(latest["verified_at"])
    return {
        "verified_at": latest["verified_at"],
        "age_s": (utcnow() - when).total_seconds() if when else None,
        "remote_path": latest["remote_path"],
        "ok": bool(latest["ok"]),
        "failed": sum(1 for r in rows if not r["ok"]),
        "verified": len(rows),
    }


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
                "started_at": iso(rec.started_at),
                "finished_at": iso(rec.finished_at),
                "path": rec.local_path,
                "remote_path": rec.remote_path,
                "size": rec.size,
                "error_code": rec.error_code,
                "error_message": rec.error_message,
            }

        return {
            "id": self.id,
            "label": self.label,
            "provider": self.provider,
            "status": self.state,
            "token_store": self.token_store,
            "ok": self.healthy,
            "problems": list(self.problems),
            "last_success": upload(self.last_success),
            "last_success_age_s": self.last_success_age_s,
            "last_failure": upload(self.last_failure),
            **self.extra,
        }


def connection_status(
    targets: Targets,
    conn_ref: str | None = None,
    *,
    max_age_s: float | None = None,
    offline: bool = False,
) -> list[ConnectionStatus]:
    """Each connection's health; online checks unless `offline` (history only)."""
    db = targets.db
    conns = [targets.resolve(conn_ref)] if conn_ref else targets.connections()
    statuses = []
    for conn in conns:
        health = check(targets, conn, offline=offline)
        conn = db.connections.get(conn.id) or conn  # a check may mark needs_relink
        success = db.attempts.last(conn.id, "completed")
        failure = db.attempts.last(conn.id, "failed")
        problems = _problems(targets.settings, conn, health)
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


def _problems(settings: Settings, conn: Connection, health: Health) -> list[str]:
    problems: list[str] = []
    if conn.state != "ok":
        problems.append(
            f"state is {conn.state}: run `fermentrack-backup link {conn.provider}` again"
        )
    if not (conn.state == "needs_relink" and health.extra.get("error_code") == "needs_relink"):
        problems.extend(health.problems)  # (the state line above already says it)
    changed = store_changed(settings, conn)
    if changed:
        problems.append(f"{changed[0]} ({changed[1]})")
    return problems
