"""The SQLite history: migrations, connections, upload rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fermentrack_backup_cli.models import Connection
from fermentrack_backup_cli.store import Database as History
from fermentrack_backup_cli.store.migrations import MIGRATIONS


def test_migrations_run_in_order_and_only_once(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    History(db).close()
    h = History(db)
    assert h.schema_version == len(MIGRATIONS)
    assert h.sql.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    h.close()


def test_an_old_database_is_migrated_forward(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    raw = sqlite3.connect(db)
    raw.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    raw.execute(
        "INSERT INTO uploads (local_path, status, started_at) VALUES ('x', 'failed', "
        "'2026-01-01T00:00:00Z')"
    )
    raw.commit()
    raw.close()
    h = History(db)
    assert h.schema_version == len(MIGRATIONS)
    assert [r.local_path for r in h.attempts.list()] == ["x"]


def test_upload_rows_list_newest_first_and_filter(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    a = h.attempts.start("c1", "/a.tar.xz", "/r/a.tar.xz", 10)
    h.attempts.finish(a, "completed", content_hash="h1")
    b = h.attempts.start("c2", "/b.tar.xz", "/r/b.tar.xz", 10)
    h.attempts.finish(b, "failed", error_code="network", error_message="down")
    assert [r.local_path for r in h.attempts.list()] == ["/b.tar.xz", "/a.tar.xz"]
    assert [r.id for r in h.attempts.list(status="failed")] == [b.id]
    assert [r.id for r in h.attempts.list(connection_id="c1")] == [a.id]
    assert h.attempts.list(limit=1)[0].id == b.id
    assert h.attempts.known_hashes("c1") == {"h1"}
    failed = h.attempts.list(status="failed")[0]
    assert (failed.error_code, failed.finished_at is not None) == ("network", True)


def test_removing_a_connection_keeps_its_history(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    conn = h.connections.add(Connection(id="abc", provider="local", label="usb", location="/x"))
    h.attempts.start(conn.id, "/a", None, 1)
    h.connections.remove(conn.id)
    assert h.connections.all() == []
    assert len(h.attempts.list(connection_id="abc")) == 1
