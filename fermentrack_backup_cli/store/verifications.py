"""The `verifications` table: the last deep check of each stored copy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..models import iso, utcnow
from .mapping import mapped

if TYPE_CHECKING:
    from . import Database


@mapped
class Verifications:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        connection_id: str,
        remote_path: str,
        content_hash: str | None,
        ok: bool,
        message: str | None,
    ) -> None:
        with self.db.transaction() as sql:
            sql.execute(
                "INSERT OR REPLACE INTO verifications VALUES (?, ?, ?, ?, ?, ?)",
                (connection_id, remote_path, content_hash, int(ok), message, iso(utcnow())),
            )

    def by_path(self, connection_id: str) -> dict[str, dict[str, Any]]:
        """Remote path (lower case) -> its last check."""
        rows = self.db.query(
            "SELECT * FROM verifications WHERE connection_id = ?", (connection_id,)
        )
        return {row["remote_path"].lower(): dict(row) for row in rows}
