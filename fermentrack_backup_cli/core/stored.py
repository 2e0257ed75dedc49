"""The stored-backups use case (`remote ls`): what a target holds, newest first, with
what the history knows of each file (uploaded by this tool, last deep verification)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..models import RemoteFile, is_archive_name, iso, parse_iso
from ..retention import backup_time, left_alone_reasons
from ..retention.plan import LEFT_NO_NAME_TIME
from ..store import Database
from .targets import Opened, Targets


@dataclass(frozen=True)
class StoredBackup:
    file: RemoteFile
    known: bool
    last_verified: datetime | None
    last_verified_ok: bool | None
    note: str | None = None  # why prune leaves it alone (empty, future-dated), if it does

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.file.name,
            "remote_path": self.file.path,
            "size": self.file.size,
            "modified": iso(self.file.modified),
            "time": iso(backup_time(self.file)),
            "content_hash": self.file.content_hash,
            "known": self.known,
            "last_verified_at": iso(self.last_verified),
            "last_verified_ok": self.last_verified_ok,
            "note": self.note,
        }


def newest_first(files: Iterable[RemoteFile]) -> list[RemoteFile]:
    """Backup archives only: real backups newest first (time from the name, else
    modified), then the files prune leaves alone (empty, far-future), so a bogus 2099 file
    is never listed as the newest."""
    backups = [f for f in files if is_archive_name(f.name)]
    return sorted(
        backups,
        key=lambda f: (
            _note(f) is None,
            backup_time(f) is not None,
            iso(backup_time(f)) or "",
            f.name,
        ),
        reverse=True,
    )


def _note(file: RemoteFile) -> str | None:
    """Why prune leaves a file alone, beyond having no time in its name."""
    reasons = [r for r in left_alone_reasons(file) if r != LEFT_NO_NAME_TIME]
    return ", ".join(reasons) or None


def stored_backups(db: Database, opened: Opened) -> list[StoredBackup]:
    uploaded = db.attempts.uploaded_hashes(opened.target_id)
    hashes = db.attempts.known_hashes(opened.target_id)
    checks = db.verifications.by_path(opened.target_id)
    result = []
    for f in newest_first(opened.target.list_files()):
        check = checks.get(f.path.lower())
        known = f.path.lower() in uploaded or (f.content_hash in hashes)
        result.append(
            StoredBackup(
                f,
                known,
                parse_iso(check["verified_at"]) if check else None,
                bool(check["ok"]) if check else None,
                _note(f),
            )
        )
    return result


def list_backups(targets: Targets, to: str | None) -> tuple[str, list[StoredBackup]]:
    """The stored backups at `to` (description of the target, newest first)."""
    opened = targets.open(to)
    return opened.target.description, stored_backups(targets.db, opened)
