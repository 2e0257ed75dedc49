"""The `uploads` table: one row per attempt to upload (or delete) a file at a target.

A row starts `pending`, may become `uploading`, and ends `completed`, `failed` or
`skipped`; a deletion by prune is a row with action `delete`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..models import UploadRecord, iso, parse_iso, utcnow
from .mapping import mapped

if TYPE_CHECKING:
    from .. import errors
    from . import Database

FINAL = ("completed", "failed", "skipped")


def _record(row: sqlite3.Row) -> UploadRecord:
    started = parse_iso(row["started_at"])
    assert started is not None
    return UploadRecord(
        id=row["id"],
        connection_id=row["connection_id"],
        local_path=row["local_path"],
        remote_path=row["remote_path"],
        size=row["size"],
        content_hash=row["content_hash"],
        status=row["status"],
        started_at=started,
        finished_at=parse_iso(row["finished_at"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        resumed_from=row["resumed_from"],
        action=row["action"],
    )


@mapped
class Attempts:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._baseline: int | None = None  # the newest row id before this run wrote any

    def _before_this_run(self) -> int:
        if self._baseline is None:
            self._baseline = int(self.db.query("SELECT COALESCE(MAX(id), 0) FROM uploads")[0][0])
        return self._baseline

    def start(
        self,
        connection_id: str | None,
        local_path: str,
        remote_path: str | None,
        size: int | None,
        *,
        status: str = "pending",
        action: str = "upload",
    ) -> UploadRecord:
        self._before_this_run()  # (fixed before this run's first row)
        now = utcnow()
        with self.db.transaction() as sql:
            cursor = sql.execute(
                "INSERT INTO uploads (connection_id, local_path, remote_path, size, status, "
                "started_at, action) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (connection_id, local_path, remote_path, size, status, iso(now), action),
            )
        row_id = cursor.lastrowid
        assert row_id is not None
        return UploadRecord(
            id=row_id,
            connection_id=connection_id,
            local_path=local_path,
            remote_path=remote_path,
            size=size,
            content_hash=None,
            status=status,
            started_at=now,
            action=action,
        )

    def finish(self, record: UploadRecord, status: str, **fields: Any) -> UploadRecord:
        finished = utcnow() if status in FINAL else None
        updated = replace(record, status=status, finished_at=finished, **fields)
        with self.db.transaction() as sql:
            sql.execute(
                "UPDATE uploads SET status=?, finished_at=?, size=?, content_hash=?, "
                "remote_path=?, error_code=?, error_message=?, resumed_from=? WHERE id=?",
                (
                    updated.status,
                    iso(updated.finished_at),
                    updated.size,
                    updated.content_hash,
                    updated.remote_path,
                    updated.error_code,
                    updated.error_message,
                    updated.resumed_from,
                    updated.id,
                ),
            )
        return updated

    def fail_all(
        self, connection_id: str | None, files: Sequence[Path], exc: errors.BackupError
    ) -> None:
        """A `failed` row for every file a run-wide error kept from being uploaded."""
        for path in files:
            record = self.start(connection_id, str(path), None, None)
            self.finish(record, "failed", error_code=exc.code, error_message=exc.message)

    def list(
        self,
        *,
        limit: int | None = None,
        connection_id: str | None = None,
        status: str | None = None,
        action: str | None = None,
        hide_statuses: Sequence[str] = (),
    ) -> list[UploadRecord]:
        clauses: list[str] = []
        params: list[object] = []
        if hide_statuses:
            clauses.append(f"status NOT IN ({', '.join('?' for _ in hide_statuses)})")
            params.extend(hide_statuses)
        for column, value in (
            ("connection_id", connection_id),
            ("status", status),
            ("action", action),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM uploads {where} ORDER BY id DESC"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_record(row) for row in self.db.query(sql, params)]

    def fail_stale(self, connection_id: str) -> int:
        """Mark rows a killed run left `pending`/`uploading` as failed (call under the lock)."""
        with self.db.transaction() as sql:
            cursor = sql.execute(
                "UPDATE uploads SET status = 'failed', finished_at = ?, "
                "error_code = 'interrupted', error_message = "
                "'the run ended before this upload finished (killed or power cut)' "
                "WHERE connection_id = ? AND status IN ('pending', 'uploading')",
                (iso(utcnow()), connection_id),
            )
        return cursor.rowcount

    def last(self, connection_id: str, status: str) -> UploadRecord | None:
        found = self.list(limit=1, connection_id=connection_id, status=status, action="upload")
        return found[0] if found else None

    def last_finished(self, connection_id: str) -> UploadRecord | None:
        """The finished row (upload or deletion, any outcome) that an earlier run at a target
        wrote last: the newest by insertion, not by the time it records (one row written
        while the clock was ahead stops counting once a later run records the right time),
        and not this run's own rows (they carry this run's clock, right or wrong)."""
        rows = self.db.query(
            "SELECT * FROM uploads WHERE connection_id = ? AND finished_at IS NOT NULL "
            "AND id <= ? ORDER BY id DESC LIMIT 1",
            (connection_id, self._before_this_run()),
        )
        return _record(rows[0]) if rows else None

    def known_hashes(self, connection_id: str) -> set[str]:
        rows = self.db.query(
            "SELECT DISTINCT content_hash FROM uploads WHERE connection_id = ? AND "
            "status IN ('completed', 'skipped') AND content_hash IS NOT NULL",
            (connection_id,),
        )
        return {row[0] for row in rows}

    def uploaded_hashes(self, connection_id: str) -> dict[str, str | None]:
        """Remote path (lower case) -> content hash of its newest successful upload."""
        found: dict[str, str | None] = {}
        for rec in self.list(connection_id=connection_id, action="upload"):
            if rec.status in ("completed", "skipped") and rec.remote_path:
                found.setdefault(rec.remote_path.lower(), rec.content_hash)
        return found
