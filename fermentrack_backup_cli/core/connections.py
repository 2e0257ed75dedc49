"""The connections use cases: list them (with where each token lives), and unlink one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import errors, providers
from ..models import Connection
from .status import store_changed
from .targets import Targets, check_policy, shadowed_reference


@dataclass(frozen=True)
class ConnectionRow:
    """A connection as `connections` shows it."""

    connection: Connection
    token_location: str | None  # the keyring backend or the token file, for messages
    store_changed: tuple[str, str] | None  # (problem, hint) when token_store changed since

    @property
    def label_hides(self) -> str | None:
        """Why this (older) label hides another reference, or None."""
        return shadowed_reference(self.connection.label)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.connection.to_json(),
            "token_location": self.token_location,
            "token_store_changed": self.store_changed is not None,
        }


def list_connections(targets: Targets) -> list[ConnectionRow]:
    conns = targets.connections()
    where = _token_locations(targets, conns)
    return [
        ConnectionRow(c, where.get(c.token_store), store_changed(targets.settings, c))
        for c in conns
    ]


def _token_locations(targets: Targets, conns: list[Connection]) -> dict[str | None, str]:
    """Where each token store in use keeps its tokens (keyring backend, file path)."""
    kinds = sorted({c.token_store for c in conns if c.token_store})
    return {kind: targets.token_store_of(kind).describe() for kind in kinds if kind}


def unlink(targets: Targets, conn: Connection) -> list[str]:
    """Remove a connection (its history stays); the provider revokes and deletes what the
    connection holds first. Returns warnings (e.g. a revoke that could not reach it)."""
    try:
        provider = providers.load(conn.provider)
    except errors.UsageError:  # a provider this version no longer has: just forget it
        warnings: list[str] = []
    else:
        warnings = provider.forget(conn, targets.env(conn, retry=check_policy()))
    targets.db.connections.remove(conn.id)
    return warnings
