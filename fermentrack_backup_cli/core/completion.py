"""What shell completion offers: connection labels, config keys, stored backup names.

Completion runs on every Tab press, so it stays light and changes nothing: it reads
the history database read-only (no migration, no folder made), never opens a target
that needs the network or an SDK, and lists stored backups only of targets whose
provider declares it can without either (not `ProviderSpec.network`: a folder).
Whatever goes wrong (no database yet, a drive not mounted, a broken config) offers
nothing rather than an error in the middle of the user's command line.
"""

from __future__ import annotations

import time

from .. import providers
from ..paths import app_dirs
from ..store import Database
from .settings import all_keys, load_settings
from .stored import newest_first
from .targets import Targets


def _database() -> Database | None:
    path = app_dirs().database
    if not path.is_file():
        return None
    return Database(path, read_only=True)


def connection_choices(incomplete: str) -> list[tuple[str, str]]:
    """(label, what it is) of every connection whose label starts with `incomplete`, by label."""
    try:
        db = _database()
        if db is None:
            return []
        try:
            conns = db.connections.all()
        finally:
            db.close()
    except Exception:  # completion offers nothing rather than fail
        return []
    return [
        (c.label, f"{c.provider} connection {c.id[:8]}")
        for c in sorted(conns, key=lambda c: c.label)
        if c.label.startswith(incomplete)
    ]


def config_key_choices(incomplete: str) -> list[tuple[str, str]]:
    return [(key.name, key.help) for key in all_keys() if key.name.startswith(incomplete)]


def _lists_offline(ref: str | None, targets: Targets) -> bool:
    spec = providers.for_reference(ref) if ref is not None else None
    if spec is None:
        spec = providers.get(targets.resolve(ref).provider)
    return not spec.network


def stored_names(config: str | None, ref: str | None, incomplete: str) -> list[str]:
    """Names of the backups stored at `ref` (the default connection when None), newest
    first, when its provider lists them offline; else nothing."""
    try:
        db = _database()  # (none before the first link or upload: nothing to list)
        if db is None:
            return []
        try:
            targets = Targets(load_settings(config), app_dirs(), db, time.monotonic())
            if not _lists_offline(ref, targets):
                return []
            files = targets.open(ref).target.list_files()
        finally:
            db.close()
    except Exception:  # completion offers nothing rather than fail
        return []
    return [f.name for f in newest_first(files) if f.name.startswith(incomplete)]
