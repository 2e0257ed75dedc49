"""Health checks of one connection for `status` (and `doctor`'s token line).

Online: does the token refresh, does the account answer, how much space is used,
and what is stored (number and total size of backups in the remote folder, the
newest and its age). Always, from history alone: the last deep verification.
`offline=True` makes no network calls. Dropbox calls go through dropbox_wiring,
imported only when a Dropbox connection is checked online (it loads the SDK).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import errors
from .app import App
from .models import Connection, RemoteFile, is_archive_name, iso, parse_iso, utcnow
from .providers.base import Space, Target
from .retention import backup_time, candidates, looks_real
from .retry import RetryPolicy

T = TypeVar("T")


@dataclass
class Health:
    """What the checks found: problems make a connection unhealthy; `extra` goes to JSON."""

    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def store_changed(app: App, conn: Connection) -> tuple[str, str] | None:
    """(problem, hint) when `token_store` changed since `conn` was linked: link it again.

    The token still works from the store it was written to (every read goes there),
    but the user asked for the other store, so say so until a re-link moves it.
    """
    configured = str(app.settings.get("token_store"))
    if not conn.token_store or conn.token_store == configured:
        return None
    return (
        f"its token is in the {conn.token_store} store but token_store is {configured}: link again",
        f"`fermentrack-backup link {conn.provider}` moves it to the {configured} store and keeps "
        f"the connection and its history; until then it is read from the {conn.token_store} store",
    )


def check(app: App, conn: Connection, *, offline: bool) -> Health:
    health = Health()
    health.extra["last_verification"] = last_verification(app, conn.id)
    if offline:
        health.extra["checked"] = "offline"
        return health
    health.extra["checked"] = "online"
    try:
        if conn.provider == "dropbox":
            _check_dropbox(app, conn, health)
        else:
            _check_storage(app.connection_target(conn), health)
    except errors.BackupError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        health.problems.append(f"{exc.message}{hint}")
        health.extra["error_code"] = exc.code
    return health


def _check_dropbox(app: App, conn: Connection, health: Health) -> None:
    from .dropbox_wiring import dropbox_target, guarded

    def run(func: Callable[[], T]) -> T:
        return guarded(app, conn, func)

    target = run(lambda: dropbox_target(app, conn, RetryPolicy(max_attempts=2)))
    run(target.refresh)
    health.extra["token_refreshes"] = True
    account = run(target.account)
    health.extra["account"] = {"email": account.email, "name": account.name}
    _check_storage(target, health, run)


def _check_storage(
    target: Target, health: Health, run: Callable[[Callable[[], Any]], Any] | None = None
) -> None:
    call = run or (lambda func: func())
    space: Space | None = call(target.space)
    if space is not None:
        health.extra["space"] = {
            "used": space.used,
            "allocated": space.allocated,
            "free": space.free,
        }
    files: list[RemoteFile] = call(
        lambda: [f for f in target.list_files() if is_archive_name(f.name)]
    )
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
        "folder": where,
        "count": len(files),
        "total_size": sum(f.size for f in files),
        "newest": newest.name if newest else None,
        "newest_modified": iso(newest.modified) if newest else None,
        "newest_age_s": (utcnow() - when).total_seconds() if when else None,
    }


def last_verification(app: App, conn_id: str) -> dict[str, Any] | None:
    rows = list(app.history.verifications(conn_id).values())
    if not rows:
        return None
    latest = max(rows, key=lambda r: str(r["verified_at"]))
    when = parse_iso(latest["verified_at"])
    return {
        "time": latest["verified_at"],
        "age_s": (utcnow() - when).total_seconds() if when else None,
        "remote_path": latest["remote_path"],
        "ok": bool(latest["ok"]),
        "failed": sum(1 for r in rows if not r["ok"]),
        "verified": len(rows),
    }


# doctor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One `doctor` line: ok, or what is wrong and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def _failed(name: str, exc: errors.BackupError) -> Check:
    return Check(name, False, exc.message, exc.hint)


def doctor_checks(config: str | None) -> list[Check]:
    """Python, config, providers, token store, data dir, and each connection's token."""
    import sys

    version = ".".join(map(str, sys.version_info[:3]))
    checks = [Check("python", sys.version_info >= (3, 11), f"Python {version}", "use 3.11+")]
    try:
        app = App.create(config)
    except errors.BackupError as exc:
        return [*checks, _failed("config", exc)]
    checks.append(Check("config", True, f"{app.settings.path} is valid"))
    try:
        for name, check in (
            ("dropbox", _provider_check),
            ("token store", _token_store_check),
            ("data dir", _data_dir_check),
        ):
            checks.append(_reporting(name, check, app))
        try:
            conns = app.history.connections()
        except errors.BackupError as exc:  # a damaged database, a file where the dir must be
            return [*checks, _failed("history", exc)]
        for conn in conns:
            checks.append(_connection_check(app, conn))
            if conn.token_store:
                checks.append(_reporting(f"cron token {conn.label}", _cron_check(conn), app))
    finally:
        app.close()
    return checks


def _reporting(name: str, check: Callable[[App], Check], app: App) -> Check:
    """A check whose setting is bad (an unreadable env_file, a bad port) reports, not aborts."""
    try:
        return check(app)
    except errors.BackupError as exc:
        return _failed(name, exc)


def _provider_check(app: App) -> Check:
    from .auth.listener import redirect_uri_for

    key = app.settings.get("dropbox.app_key")
    if not key:
        return Check(
            "dropbox",
            False,
            "the Dropbox provider is not enabled (DROPBOX_APP_KEY / dropbox.app_key not set)",
            "`fermentrack-backup config set dropbox.app_key KEY`, or point env_file at "
            "Fermentrack's .envs/.production/.django",
        )
    kind = "with app secret" if app.settings.get("dropbox.app_secret") else "PKCE only"
    uri = redirect_uri_for(int(app.settings.get("oauth.callback_port")))
    return Check(
        "dropbox",
        True,
        f"enabled ({kind}, key from {app.settings.source('dropbox.app_key')}); "
        f"redirect URI to register: {uri}",
    )


def _token_store_check(app: App) -> Check:
    from .auth.tokens import open_store

    try:
        store = open_store(str(app.settings.get("token_store")), app.dirs.token_file)
        where = store.describe()
        store.probe()
    except errors.BackupError as exc:
        return _failed("token store", exc)
    return Check("token store", True, f"{where}: a probe entry was written, read and deleted")


def _data_dir_check(app: App) -> Check:
    import os
    import tempfile
    from pathlib import Path

    from .paths import ensure_dir

    try:
        ensure_dir(app.dirs.data)
        fd, name = tempfile.mkstemp(dir=app.dirs.data, prefix=".doctor-")
        os.close(fd)
        Path(name).unlink()
    except OSError as exc:
        return Check(
            "data dir",
            False,
            f"{app.dirs.data} is not writable ({exc.strerror or exc})",
            "fix its owner/permissions, or set FERMENTRACK_BACKUP_HOME",
        )
    return Check("data dir", True, f"{app.dirs.data} is writable")


def _cron_check(conn: Connection) -> Callable[[App], Check]:
    """Can cron read this connection's token, from the store `token_store` names?"""

    def run(app: App) -> Check:
        from .auth import reachability
        from .auth.tokens import open_store

        name = f"cron token {conn.label}"
        changed = store_changed(app, conn)
        if changed:
            return Check(name, False, *changed)
        store = open_store(conn.token_store or "", app.dirs.token_file)
        token = store.get(conn.id)
        if token is None:
            return Check(
                name,
                False,
                f"no token for it in the {store.name} store",
                f"run `fermentrack-backup link {conn.provider}` again",
            )
        cron = reachability.check(store, conn.id, token)
        if cron is None or cron.reachable:
            return Check(name, True, cron.detail if cron else f"stored in {store.describe()}")
        where = store.describe()
        if cron.reachable is None:
            return Check(name, False, f"could not check it ({where}): {cron.detail}", cron.hint)
        return Check(name, False, f"cron cannot read it from {where}: {cron.detail}", cron.hint)

    return run


def _connection_check(app: App, conn: Connection) -> Check:
    name = f"connection {conn.label}"
    try:
        if conn.provider == "dropbox":
            from .dropbox_wiring import dropbox_target, guarded

            target = guarded(
                app, conn, lambda: dropbox_target(app, conn, RetryPolicy(max_attempts=2))
            )
            guarded(app, conn, target.refresh)
            return Check(name, True, "the Dropbox token refreshes")
        app.connection_target(conn)
    except errors.BackupError as exc:
        return _failed(name, exc)
    return Check(name, True, f"{conn.location} is usable")
