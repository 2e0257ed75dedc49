"""The history database's schema, as ordered migrations (recorded in PRAGMA user_version).

Append only: a released migration never changes; a new one is the next entry.
"""

from __future__ import annotations

from collections.abc import Sequence

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
