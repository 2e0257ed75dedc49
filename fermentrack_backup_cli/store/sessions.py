"""The `upload_sessions` table: resumable upload sessions, one per connection and path.

A provider that resumes uploads gets a `ConnectionSessions` (the `ResumeStore` of
providers.base, for one connection) and never sees the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models import ResumeRecord, iso, parse_iso, utcnow
from .mapping import mapped

if TYPE_CHECKING:
    from . import Database


@mapped
class Sessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, connection_id: str, remote_path: str, record: ResumeRecord) -> None:
        """Record a session's progress; `created_at` restarts with a new session id."""
        now = iso(utcnow())
        with self.db.transaction() as sql:
            sql.execute(
                "INSERT INTO upload_sessions (connection_id, remote_path, local_path, size, "
                "mtime_ns, session_id, committed_offset, block_digests, session_type, "
                "created_at, updated_at) "
                "VALUES (:connection_id, :remote_path, :local_path, :size, :mtime_ns, "
                ":session_id, :committed_offset, :block_digests, :session_type, :now, :now) "
                "ON CONFLICT (connection_id, remote_path) DO UPDATE SET "
                "created_at=CASE WHEN session_id = excluded.session_id THEN created_at "
                "ELSE excluded.created_at END, "
                "local_path=excluded.local_path, size=excluded.size, "
                "mtime_ns=excluded.mtime_ns, session_id=excluded.session_id, "
                "committed_offset=excluded.committed_offset, "
                "block_digests=excluded.block_digests, session_type=excluded.session_type, "
                "updated_at=excluded.updated_at",
                {
                    "connection_id": connection_id,
                    "remote_path": remote_path,
                    "local_path": record.local_path,
                    "size": record.size,
                    "mtime_ns": record.mtime_ns,
                    "session_id": record.session_id,
                    "committed_offset": record.committed,
                    "block_digests": record.digests,
                    "session_type": record.kind,
                    "now": now,
                },
            )

    def load(self, connection_id: str, remote_path: str) -> ResumeRecord | None:
        rows = self.db.query(
            "SELECT * FROM upload_sessions WHERE connection_id = ? AND remote_path = ?",
            (connection_id, remote_path),
        )
        if not rows:
            return None
        row = rows[0]
        created = parse_iso(row["created_at"])
        return ResumeRecord(
            session_id=row["session_id"],
            kind=row["session_type"],
            local_path=row["local_path"],
            size=row["size"],
            mtime_ns=row["mtime_ns"],
            committed=row["committed_offset"],
            digests=bytes(row["block_digests"]),
            created=created.timestamp() if created else 0.0,
        )

    def drop(self, connection_id: str, remote_path: str) -> None:
        with self.db.transaction() as sql:
            sql.execute(
                "DELETE FROM upload_sessions WHERE connection_id = ? AND remote_path = ?",
                (connection_id, remote_path),
            )

    def for_connection(self, connection_id: str) -> ConnectionSessions:
        return ConnectionSessions(self, connection_id)


class ConnectionSessions:
    """The resume records of one connection (providers.base.ResumeStore)."""

    def __init__(self, sessions: Sessions, connection_id: str) -> None:
        self.sessions = sessions
        self.connection_id = connection_id

    def load(self, remote_path: str) -> ResumeRecord | None:
        return self.sessions.load(self.connection_id, remote_path)

    def save(self, remote_path: str, record: ResumeRecord) -> None:
        self.sessions.save(self.connection_id, remote_path, record)

    def drop(self, remote_path: str) -> None:
        self.sessions.drop(self.connection_id, remote_path)
