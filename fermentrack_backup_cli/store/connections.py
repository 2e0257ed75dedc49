"""The `connections` table: linked targets (a provider, a label, where its token lives)."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..models import Connection, iso, parse_iso, utcnow
from .mapping import mapped

if TYPE_CHECKING:
    from . import Database

# S608 below: the interpolated SQL pieces are module constants or column names from
# keyword arguments of our own code, never user input; values always go through parameters.
_COLUMNS = (
    "id, provider, label, account_id, account_email, account_name, location, state, "
    "token_store, created_at, last_used_at, device, mount_point"
)


def _connection(row: sqlite3.Row) -> Connection:
    created = parse_iso(row["created_at"])
    assert created is not None
    return Connection(
        id=row["id"],
        provider=row["provider"],
        label=row["label"],
        account_id=row["account_id"],
        account_email=row["account_email"],
        account_name=row["account_name"],
        location=row["location"],
        state=row["state"],
        token_store=row["token_store"],
        created_at=created,
        last_used_at=parse_iso(row["last_used_at"]),
        device=row["device"],
        mount_point=row["mount_point"],
    )


@mapped
class Connections:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, conn: Connection) -> Connection:
        # the columns are the dataclass fields (to_json is the --json shape, not the row)
        values = {
            **asdict(conn),
            "created_at": iso(conn.created_at),
            "last_used_at": iso(conn.last_used_at),
        }
        with self.db.transaction() as sql:
            sql.execute(
                f"INSERT INTO connections ({_COLUMNS}) VALUES "  # noqa: S608
                "(:id, :provider, :label, :account_id, :account_email, :account_name, "
                ":location, :state, :token_store, :created_at, :last_used_at, :device, "
                ":mount_point)",
                values,
            )
        return conn

    def update(self, conn_id: str, **fields: Any) -> None:
        if not fields:
            return
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        values = {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}
        with self.db.transaction() as sql:
            sql.execute(
                f"UPDATE connections SET {assignments} WHERE id = :id",  # noqa: S608
                {**values, "id": conn_id},
            )

    def all(self) -> list[Connection]:
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM connections ORDER BY created_at, id"  # noqa: S608
        )
        return [_connection(row) for row in rows]

    def get(self, conn_id: str) -> Connection | None:
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM connections WHERE id = ?",  # noqa: S608
            (conn_id,),
        )
        return _connection(rows[0]) if rows else None

    def remove(self, conn_id: str) -> None:
        with self.db.transaction() as sql:
            sql.execute("DELETE FROM connections WHERE id = ?", (conn_id,))
            sql.execute("DELETE FROM upload_sessions WHERE connection_id = ?", (conn_id,))

    def touch(self, conn_id: str) -> None:
        self.update(conn_id, last_used_at=utcnow())

    def mark_needs_relink(self, conn_id: str) -> None:
        """The provider refused the connection's token: the one place that records it."""
        self.update(conn_id, state="needs_relink")
