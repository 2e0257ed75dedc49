"""Resumable upload sessions: what survives a crash, and where it is kept.

A `SessionRecord` holds enough to continue a Dropbox upload session in a later
run (session id, the acknowledged prefix, the file's identity and the block
digests of that prefix); `HistorySessions` keeps records in the history database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .models import parse_iso
from .providers.base import SourceFile

SEQUENTIAL = "sequential"
CONCURRENT = "concurrent"


@dataclass(frozen=True)
class SessionRecord:
    """What survives a crash: enough to continue the session in a later run."""

    session_id: str
    kind: str  # sequential | concurrent
    local_path: str
    size: int
    mtime_ns: int
    committed: int  # bytes the server acknowledged (a contiguous prefix)
    digests: bytes  # SHA-256 digests of the full 4 MiB blocks of that prefix
    created: float = 0.0  # time.time() when the session was started

    def matches(self, source: SourceFile) -> bool:
        return (self.local_path, self.size, self.mtime_ns) == (
            str(source.path),
            source.size,
            source.mtime_ns,
        )


class SessionStore(Protocol):
    def load(self, remote_path: str) -> SessionRecord | None: ...

    def save(self, remote_path: str, record: SessionRecord) -> None: ...

    def drop(self, remote_path: str) -> None: ...


class NoSessions:
    """A store that forgets: uploads still work, they just cannot resume."""

    def load(self, remote_path: str) -> SessionRecord | None:
        return None

    def save(self, remote_path: str, record: SessionRecord) -> None:
        return None

    def drop(self, remote_path: str) -> None:
        return None


class HistorySessions:
    """`SessionStore` over the history database (main thread only: sqlite3)."""

    def __init__(self, history: Any, connection_id: str) -> None:
        self.history = history
        self.connection_id = connection_id

    def load(self, remote_path: str) -> SessionRecord | None:
        row = self.history.get_session(self.connection_id, remote_path)
        if row is None:
            return None
        return SessionRecord(
            session_id=row["session_id"],
            kind=row.get("session_type") or SEQUENTIAL,
            local_path=row["local_path"],
            size=row["size"],
            mtime_ns=row["mtime_ns"],
            committed=row["committed_offset"],
            digests=bytes(row["block_digests"]),
            created=_timestamp(row.get("created_at")),
        )

    def save(self, remote_path: str, record: SessionRecord) -> None:
        self.history.save_session(
            self.connection_id,
            remote_path,
            local_path=record.local_path,
            size=record.size,
            mtime_ns=record.mtime_ns,
            session_id=record.session_id,
            committed_offset=record.committed,
            block_digests=record.digests,
            session_type=record.kind,
        )

    def drop(self, remote_path: str) -> None:
        self.history.drop_session(self.connection_id, remote_path)


def _timestamp(text: str | None) -> float:
    parsed = parse_iso(text)
    return parsed.timestamp() if parsed else 0.0
