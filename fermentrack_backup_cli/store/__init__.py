"""The history database: one SQLite file, opened once, with its migrations and tables.

stdlib sqlite3 in WAL mode with a busy timeout, so a second process reading `status`
never sees a torn write and two runs never corrupt the file. One connection per
process, shared by threads under a lock (an upload worker may record a refused
token). A table per module: `connections`, `attempts` (uploads and deletions),
`sessions` (resumable upload sessions), `verifications` (deep checks of stored
copies); `mapping` turns sqlite3 errors into BackupErrors with a hint.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..paths import ensure_dir
from .attempts import Attempts
from .connections import Connections
from .mapping import database_error
from .migrations import MIGRATIONS
from .sessions import Sessions
from .verifications import Verifications

__all__ = ["Attempts", "Connections", "Database", "Sessions", "Verifications"]


def _set_wal(sql: sqlite3.Connection, tries: int = 100) -> None:
    """WAL mode. Two runs creating the database at once: switching the journal mode can
    answer "database is locked" at once, without the busy handler; retry for ~10 s."""
    for attempt in range(tries):
        try:
            sql.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.1)


class Database:
    """One open history database. Cheap to create; commands open it only when needed."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """`read_only`: an existing database, read only (no folder made, no migration, no
        write), for shell completion, which must stay cheap and change nothing."""
        self.path = path
        self.lock = threading.RLock()
        if not read_only:
            ensure_dir(path.parent, 0o700)
        try:
            if read_only:
                self.sql = sqlite3.connect(
                    f"{path.absolute().as_uri()}?mode=ro",
                    uri=True,
                    timeout=1,
                    isolation_level=None,
                    check_same_thread=False,
                )
            else:
                self.sql = sqlite3.connect(
                    path, timeout=30, isolation_level=None, check_same_thread=False
                )
            self.sql.row_factory = sqlite3.Row
            if not read_only:
                _set_wal(self.sql)
                self.sql.execute("PRAGMA busy_timeout=30000")
                self.sql.execute("PRAGMA foreign_keys=ON")
                self._migrate()
        except sqlite3.DatabaseError as exc:
            raise database_error(path, exc) from None
        self.connections = Connections(self)
        self.attempts = Attempts(self)
        self.sessions = Sessions(self)
        self.verifications = Verifications(self)

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    def close(self) -> None:
        with self.lock:
            self.sql.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.sql.execute("BEGIN IMMEDIATE")
            try:
                yield self.sql
            except BaseException:
                self.sql.execute("ROLLBACK")
                raise
            self.sql.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.sql.execute(sql, params).fetchall()

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
        return int(self.query("PRAGMA user_version")[0][0])
