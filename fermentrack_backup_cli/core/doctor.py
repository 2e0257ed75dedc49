"""The doctor use case: one line per check, ok or what is wrong and the fix.

Python, the config, each provider's own setup (its `setup_check`), the token store,
the data dir, the history, and per connection: does it work (the provider's `probe`)
and can cron read its token.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import errors, providers
from ..models import Connection
from ..paths import ensure_dir
from .context import Context
from .status import store_changed
from .targets import check_policy, shadowed_reference


@dataclass(frozen=True)
class Check:
    """One `doctor` line: ok, or what is wrong and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False  # a failed warning is shown with its fix but is not unhealthy

    def to_json(self) -> dict[str, Any]:
        # a passing check has nothing to fix, whatever fix text it was built with
        fix = None if self.ok else self.fix
        return {
            "check": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "fix": fix,
            "warning": self.warning,
        }


def _failed(name: str, exc: errors.BackupError) -> Check:
    return Check(name, False, exc.message, exc.hint)


def doctor_checks(config: str | None) -> list[Check]:
    """Every check, in order; a check that cannot run reports, it never aborts the rest."""
    version = ".".join(map(str, sys.version_info[:3]))
    supported = sys.version_info >= (3, 11)
    checks = [Check("python", supported, f"Python {version}", None if supported else "use 3.11+")]
    checks.append(bytecode_check())
    try:
        ctx = Context.create(config)
    except errors.BackupError as exc:
        return [*checks, _failed("config", exc)]
    checks.append(Check("config", True, f"{ctx.settings.path} is valid"))
    try:
        for name, check in (
            *((spec.id, _provider_check(spec.id)) for spec in providers.specs()),
            ("token store", _token_store_check),
            ("data dir", _data_dir_check),
        ):
            found = _reporting(name, check, ctx)
            if found is not None:  # (a provider with nothing to set up has no line)
                checks.append(found)
        try:
            conns = ctx.targets.connections()
        except errors.BackupError as exc:  # a damaged database, a file where the dir must be
            return [*checks, _failed("history", exc)]
        for conn in conns:
            checks.append(_connection_check(ctx, conn))
            if why := shadowed_reference(conn.label):
                checks.append(
                    Check(
                        f"label {conn.label}",
                        False,
                        f"connection {conn.id[:8]}'s label cannot be used with --to: {why}",
                        f"name it by its id prefix (--to {conn.id[:8]})",
                    )
                )
            if conn.token_store:
                cron = _reporting(f"cron token {conn.label}", _cron_check(conn), ctx)
                checks.append(cron or Check(f"cron token {conn.label}", True, "no token"))
    finally:
        ctx.close()
    return checks


def bytecode_check() -> Check:
    """Warn when this package or a provider's SDK recompiles on every run."""
    from . import bytecode

    names = [__package__.partition(".")[0] if __package__ else "fermentrack_backup_cli"]
    names += [name for spec in providers.specs() for name in spec.runtime_packages]
    ok, detail = bytecode.check(names)
    return Check("bytecode", ok, detail, bytecode.FIX, warning=True)


def _reporting(name: str, check: Callable[[Context], Check | None], ctx: Context) -> Check | None:
    """A check whose setting is bad (an unreadable env_file, a bad port) reports, not aborts."""
    try:
        return check(ctx)
    except errors.BackupError as exc:
        return _failed(name, exc)


def _provider_check(provider_id: str) -> Callable[[Context], Check | None]:
    """The provider's own setup line, if it has one (Dropbox: enabled, the redirect URI)."""

    def run(ctx: Context) -> Check | None:
        setup = providers.load(provider_id).setup_check(ctx.settings)
        if setup is None:
            return None
        return Check(provider_id, setup.ok, setup.detail, setup.fix)

    return run


def _token_store_check(ctx: Context) -> Check:
    try:
        store = ctx.targets.token_store()
        where = store.describe()
        store.probe()
    except errors.BackupError as exc:
        return _failed("token store", exc)
    return Check("token store", True, f"{where}: a probe entry was written, read and deleted")


def _data_dir_check(ctx: Context) -> Check:
    data = ctx.dirs.data
    try:
        ensure_dir(data)
        fd, name = tempfile.mkstemp(dir=data, prefix=".doctor-")
        os.close(fd)
        Path(name).unlink()
    except OSError as exc:
        return Check(
            "data dir",
            False,
            f"{data} is not writable ({exc.strerror or exc})",
            "fix its owner/permissions, or set FERMENTRACK_BACKUP_HOME",
        )
    return Check("data dir", True, f"{data} is writable")


def _cron_check(conn: Connection) -> Callable[[Context], Check]:
    """Can cron read this connection's token, from the store `token_store` names?"""

    def run(ctx: Context) -> Check:
        from ..auth import reachability

        name = f"cron token {conn.label}"
        changed = store_changed(ctx.settings, conn)
        if changed:
            return Check(name, False, *changed)
        store = ctx.targets.token_store(conn)
        token = store.get(conn.id)
        if token is None:
            return Check(
                name,
                False,
                f"no token for it in the {store.name} store",
                f"run `fermentrack-backup link {conn.provider}` again",
            )
        again = f"`fermentrack-backup link {conn.provider}`"
        cron = reachability.check(store, conn.id, token, again=again)
        if cron is None or cron.reachable:
            return Check(name, True, cron.detail if cron else f"stored in {store.describe()}")
        where = store.describe()
        if cron.reachable is None:
            return Check(name, False, f"could not check it ({where}): {cron.detail}", cron.hint)
        return Check(name, False, f"cron cannot read it from {where}: {cron.detail}", cron.hint)

    return run


def _connection_check(ctx: Context, conn: Connection) -> Check:
    name = f"connection {conn.label}"
    try:
        opened = ctx.targets.open_connection(conn, retry=check_policy())
        return Check(name, True, opened.provider.probe(opened.target))
    except errors.BackupError as exc:
        return _failed(name, exc)
