"""The SQLite history: migrations, connections, upload rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fermentrack_backup_cli.history import MIGRATIONS, History
from fermentrack_backup_cli.models import Connection


def test_migrations_run_in_order_and_only_once(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    History(db).close()
    h = History(db)
    assert h.schema_version == len(MIGRATIONS)
    assert h.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
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
    assert [r.local_path for r in h.uploads()] == ["x"]


def test_upload_rows_list_newest_first_and_filter(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    a = h.start_upload("c1", "/a.tar.xz", "/r/a.tar.xz", 10)
    h.finish_upload(a, "completed", content_hash="h1")
    b = h.start_upload("c2", "/b.tar.xz", "/r/b.tar.xz", 10)
    h.finish_upload(b, "failed", error_code="network", error_message="down")
    assert [r.local_path for r in h.uploads()] == ["/b.tar.xz", "/a.tar.xz"]
    assert [r.id for r in h.uploads(status="failed")] == [b.id]
    assert [r.id for r in h.uploads(connection_id="c1")] == [a.id]
    assert h.uploads(limit=1)[0].id == b.id
    assert h.known_hashes("c1") == {"h1"}
    failed = h.uploads(status="failed")[0]
    assert (failed.error_code, failed.finished_at is not None) == ("network", True)


def test_removing_a_connection_keeps_its_history(tmp_path: Path) -> None:
    h = History(tmp_path / "h.sqlite3")
    conn = h.add_connection(Connection(id="abc", provider="local", label="usb", location="/x"))
    h.start_upload(conn.id, "/a", None, 1)
    h.remove_connection(conn.id)
    assert h.connections() == []
    assert len(h.uploads(connection_id="abc")) == 1
