"""The SQLite store: connections, upload history, upload sessions, verifications.

stdlib sqlite3 in WAL mode with a busy timeout, so a second process reading
`status` never sees a torn write and two uploads never corrupt the file.
Migrations run in order, recorded in `PRAGMA user_version`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from . import errors
from .models import Connection, UploadRecord, iso, parse_iso, utcnow
from .paths import ensure_dir

# S608 below: the interpolated SQL pieces are module constants or column names from
# keyword arguments of our own code, never user input; values always go through parameters.

MIGRATIONS: Sequence[str] = (
    # 1: connections and upload history
    """
    CREATE TABLE connections (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        label TEXT NOT NULL,
        account_id TEXT,
        account_email TEXT,
        account_name TEXT,
        location TEXT,
        state TEXT NOT NULL DEFAULT 'ok',
        token_store TEXT,
        created_at TEXT NOT NULL,
        last_used_at TEXT
    );
    CREATE TABLE uploads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connection_id TEXT,
        local_path TEXT NOT NULL,
        remote_path TEXT,
        size INTEGER,
        content_hash TEXT,
        status TEXT NOT NULL CHECK (status IN
            ('pending', 'uploading', 'completed', 'failed', 'skipped')),
        started_at TEXT NOT NULL,
        finished_at TEXT,
        error_code TEXT,
        error_message TEXT,
        resumed_from INTEGER,
        action TEXT NOT NULL DEFAULT 'upload'
    );
    CREATE INDEX uploads_connection ON uploads (connection_id, id);
    """,
    # 2: resumable upload sessions (one per connection + remote path)
    """
    CREATE TABLE upload_sessions (
        connection_id TEXT NOT NULL,
        remote_path TEXT NOT NULL,
        local_path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        committed_offset INTEGER NOT NULL,
        block_digests BLOB NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (connection_id, remote_path)
    );
    """,
    # 3: deep verification results per stored file
    """
    CREATE TABLE verifications (
        connection_id TEXT NOT NULL,
        remote_path TEXT NOT NULL,
        content_hash TEXT,
        ok INTEGER NOT NULL,
        message TEXT,
        verified_at TEXT NOT NULL,
        PRIMARY KEY (connection_id, remote_path)
    );
    """,
    # 4: the kind of a recorded upload session (a concurrent one is continued chunk-wise)
    """
    ALTER TABLE upload_sessions ADD COLUMN session_type TEXT NOT NULL DEFAULT 'sequential';
    """,
    # 5: the filesystem a local folder was linked on (to notice an unmounted drive)
    """
    ALTER TABLE connections ADD COLUMN device INTEGER;
    ALTER TABLE connections ADD COLUMN mount_point TEXT;
    """,
)

_CONNECTION_COLUMNS = (
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


def _upload(row: sqlite3.Row) -> UploadRecord:
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


def database_error(path: Path, exc: sqlite3.DatabaseError | OverflowError) -> errors.BackupError:
    """What a failing query means for the user. A damaged page is often found only when a
    query reads it, long after the open succeeded, so every method maps its errors."""
    text = str(exc)
    if isinstance(exc, OverflowError):  # a Python int beyond SQLite's 64 bits
        return errors.InvalidValue(
            f"a number is too large for the history database ({text})",
            "use a smaller number (see the command's --help)",
        )
    if isinstance(exc, sqlite3.IntegrityError):
        return errors.BackupError(
            f"the history database {path} refused a change: {text}",
            "run the command again; if it persists, report it with the output of --debug",
            code="history_refused",
        )
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return errors.Locked(
            f"the history database {path} is busy: {text}",
            "another fermentrack-backup run is using it: wait for it to finish, then run again",
            code="history_busy",
        )
    if isinstance(exc, sqlite3.OperationalError) and "no such" not in text:
        return errors.BackupError(
            f"cannot use the history database {path}: {text}",
            "check the data directory's permissions and free space",
            code="history_unavailable",
        )
    return errors.BackupError(  # malformed page, not a database, missing tables
        f"the history database {path} is damaged: {text}",
        f"move it away with its -wal and -shm files (e.g. `mkdir '{path.parent}/damaged' && "
        f"mv '{path}'* '{path.parent}/damaged/'`): the tool then starts a new, empty history, "
        "and connections have to be linked again",
        code="history_damaged",
    )


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _mapped(method: _Method) -> _Method:
    @functools.wraps(method)
    def wrapper(self: History, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # our own bug (a closed database, a bad parameter type): stay loud
        except (sqlite3.DatabaseError, OverflowError) as exc:
            raise database_error(self.path, exc) from None

    return cast(_Method, wrapper)


_H = TypeVar("_H", bound=type)


def _database_errors_mapped(cls: _H) -> _H:
    """Wrap every public method, so no sqlite3 error (or a parameter's OverflowError)
    leaves the store as anything but a BackupError; methods added later are covered too."""
    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_") and name not in _UNMAPPED:
            setattr(cls, name, _mapped(value))
    return cls


_UNMAPPED = frozenset({"transaction", "close"})


@_database_errors_mapped
class History:
    """One open database. Cheap to create; commands open it only when needed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        ensure_dir(path.parent, 0o700)
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise database_error(path, exc) from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # connections ---------------------------------------------------------------

    def add_connection(self, conn: Connection) -> Connection:
        values = conn.to_json()
        values["created_at"] = iso(conn.created_at)
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO connections ({_CONNECTION_COLUMNS}) VALUES "  # noqa: S608
                "(:id, :provider, :label, :account_id, :account_email, :account_name, "
                ":location, :state, :token_store, :created_at, :last_used_at, :device, "
                ":mount_point)",
                values,
            )
        return conn

    def update_connection(self, conn_id: str, **fields: Any) -> None:
        if not fields:
            return
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        values = {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}
        with self.transaction() as db:
            db.execute(
                f"UPDATE connections SET {assignments} WHERE id = :id",  # noqa: S608
                {**values, "id": conn_id},
            )

    def connections(self) -> list[Connection]:
        rows = self.db.execute(
            f"SELECT {_CONNECTION_COLUMNS} FROM connections ORDER BY created_at, id"  # noqa: S608
        )
        return [_connection(row) for row in rows]

    def get_connection(self, conn_id: str) -> Connection | None:
        row = self.db.execute(
            f"SELECT {_CONNECTION_COLUMNS} FROM connections WHERE id = ?",  # noqa: S608
            (conn_id,),
        ).fetchone()
        return _connection(row) if row else None

    def remove_connection(self, conn_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM connections WHERE id = ?", (conn_id,))
            db.execute("DELETE FROM upload_sessions WHERE connection_id = ?", (conn_id,))

    def touch_connection(self, conn_id: str) -> None:
        self.update_connection(conn_id, last_used_at=utcnow())

    # uploads -------------------------------------------------------------------

    def start_upload(
        self,
        connection_id: str | None,
        local_path: str,
        remote_path: str | None,
        size: int | None,
        *,
        status: str = "pending",
        action: str = "upload",
    ) -> UploadRecord:
        now = utcnow()
        with self.transaction() as db:
            cursor = db.execute(
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

    def finish_upload(self, record: UploadRecord, status: str, **fields: Any) -> UploadRecord:
        finished = utcnow() if status in ("completed", "failed", "skipped") else None
        updated = replace(record, status=status, finished_at=finished, **fields)
        with self.transaction() as db:
            db.execute(
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

    def uploads(
        self,
        *,
        limit: int | None = None,
        connection_id: str | None = None,
        status: str | None = None,
        action: str | None = None,
    ) -> list[UploadRecord]:
        clauses: list[str] = []
        params: list[object] = []
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
        return [_upload(row) for row in self.db.execute(sql, params)]

    def fail_stale(self, connection_id: str) -> int:
        """Mark rows a killed run left `pending`/`uploading` as failed (call under the lock)."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE uploads SET status = 'failed', finished_at = ?, "
                "error_code = 'interrupted', error_message = "
                "'the run ended before this upload finished (killed or power cut)' "
                "WHERE connection_id = ? AND status IN ('pending', 'uploading')",
                (iso(utcnow()), connection_id),
            )
        return cursor.rowcount

    def last_upload(self, connection_id: str, status: str) -> UploadRecord | None:
        found = self.uploads(limit=1, connection_id=connection_id, status=status, action="upload")
        return found[0] if found else None

    def last_finished(self, connection_id: str) -> UploadRecord | None:
        """The row (upload or deletion, any outcome) that finished last for a target."""
        # ISO-8601 UTC text with a Z sorts like the times it spells
        row = self.db.execute(
            "SELECT * FROM uploads WHERE connection_id = ? AND finished_at IS NOT NULL "
            "ORDER BY finished_at DESC, id DESC LIMIT 1",
            (connection_id,),
        ).fetchone()
        return _upload(row) if row else None

    def known_hashes(self, connection_id: str) -> set[str]:
        rows = self.db.execute(
            "SELECT DISTINCT content_hash FROM uploads WHERE connection_id = ? AND "
            "status IN ('completed', 'skipped') AND content_hash IS NOT NULL",
            (connection_id,),
        )
        return {row[0] for row in rows}

    # upload sessions (resume across runs) ---------------------------------------

    def save_session(self, connection_id: str, remote_path: str, **fields: Any) -> None:
        """Record an upload session's progress; `created_at` restarts with a new session id."""
        now = iso(utcnow())
        values = {"session_type": "sequential", **fields}
        with self.transaction() as db:
            db.execute(
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
                {**values, "connection_id": connection_id, "remote_path": remote_path, "now": now},
            )

    def get_session(self, connection_id: str, remote_path: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT * FROM upload_sessions WHERE connection_id = ? AND remote_path = ?",
            (connection_id, remote_path),
        ).fetchone()
        return dict(row) if row else None

    def drop_session(self, connection_id: str, remote_path: str) -> None:
        with self.transaction() as db:
            db.execute(
                "DELETE FROM upload_sessions WHERE connection_id = ? AND remote_path = ?",
                (connection_id, remote_path),
            )

    # verifications ---------------------------------------------------------------

    def record_verification(
        self,
        connection_id: str,
        remote_path: str,
        content_hash: str | None,
        ok: bool,
        message: str | None,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO verifications VALUES (?, ?, ?, ?, ?, ?)",
                (connection_id, remote_path, content_hash, int(ok), message, iso(utcnow())),
            )

    def verifications(self, connection_id: str) -> dict[str, dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM verifications WHERE connection_id = ?", (connection_id,)
        )
        return {row["remote_path"].lower(): dict(row) for row in rows}
