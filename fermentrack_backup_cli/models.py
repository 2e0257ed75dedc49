"""Frozen dataclasses that cross layers. Plain data only: no I/O, no SDK types."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

UPLOAD_STATUSES = ("pending", "uploading", "completed", "failed", "skipped")
ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz", ".tgz", ".zip")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """RFC 3339 UTC with a trailing Z (`2026-11-27T03:00:00Z`), the one time format of
    --json output."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ProviderInfo:
    provider_id: str
    display_name: str
    is_enabled: bool
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Connection:
    id: str
    provider: str
    label: str
    account_id: str | None = None
    account_email: str | None = None
    account_name: str | None = None
    location: str | None = None  # the folder of a local connection
    state: str = "ok"  # ok | needs_relink
    token_store: str | None = None  # keyring | file | None (local needs none)
    created_at: datetime = field(default_factory=utcnow)
    last_used_at: datetime | None = None
    # a local folder's filesystem when linked: its device id and mount point
    # (None for connections linked before they were recorded: those are not checked)
    device: int | None = None
    mount_point: str | None = None

    @property
    def filesystem(self) -> tuple[int, str] | None:
        if self.device is None or self.mount_point is None:
            return None
        return self.device, self.mount_point

    def to_json(self) -> dict[str, Any]:
        """The --json shape: `path` is a local folder's path, `status` the link state."""
        return {
            "id": self.id,
            "provider": self.provider,
            "label": self.label,
            "account_id": self.account_id,
            "account_email": self.account_email,
            "account_name": self.account_name,
            "path": self.location,
            "status": self.state,
            "token_store": self.token_store,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "device": self.device,
            "mount_point": self.mount_point,
        }


@dataclass(frozen=True)
class Account:
    """Who a linked account belongs to, as its provider reports it."""

    account_id: str
    email: str
    name: str


@dataclass(frozen=True)
class TokenGrant:
    """What a successful code exchange returns; only `refresh_token` is ever stored."""

    refresh_token: str
    account_id: str | None

    def __repr__(self) -> str:
        return f"TokenGrant(refresh_token=***, account_id={self.account_id!r})"


@dataclass(frozen=True)
class RemoteFile:
    """A file stored at a target, in the target's remote dir."""

    name: str
    path: str
    size: int
    content_hash: str | None
    modified: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "remote_path": self.path,
            "size": self.size,
            "content_hash": self.content_hash,
            "modified": iso(self.modified),
        }


@dataclass(frozen=True)
class UploadRecord:
    id: int
    connection_id: str | None
    local_path: str
    remote_path: str | None
    size: int | None
    content_hash: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    resumed_from: int | None = None
    action: str = "upload"  # upload | delete

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "path": self.local_path,
            "remote_path": self.remote_path,
            "size": self.size,
            "content_hash": self.content_hash,
            "status": self.status,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "error_code": self.error_code,
            "error_message": self.error_message,
            "resumed_from": self.resumed_from,
            "action": self.action,
        }


@dataclass(frozen=True)
class ResumeRecord:
    """What survives a crash of a resumable upload: enough to continue it in a later run
    (the session id, the acknowledged prefix and the block digests of that prefix, the
    local file's identity)."""

    session_id: str
    kind: str  # the provider's kind of session (Dropbox: sequential | concurrent)
    local_path: str
    size: int
    mtime_ns: int
    committed: int  # bytes the server acknowledged (a contiguous prefix)
    digests: bytes  # SHA-256 digests of the full 4 MiB blocks of that prefix
    created: float = 0.0  # time.time() when the session was started

    def matches(self, local_path: str, size: int, mtime_ns: int) -> bool:
        return (self.local_path, self.size, self.mtime_ns) == (local_path, size, mtime_ns)


@dataclass(frozen=True)
class ArchiveReport:
    """What verifying one archive found. `ok` is False when anything is wrong."""

    path: str
    format: str | None  # tar.xz | tar.gz | zip | None when not an archive
    ok: bool
    members: int = 0
    file_version: Any = None
    dump_member: str | None = None
    size: int | None = None
    content_hash: str | None = None
    problems: tuple[str, ...] = ()
    error_code: str | None = None  # corrupt_archive | not_an_archive | unsafe_member | ...
    # fermentrack2 | fermentrack-2.0.0 | legacy-1.0.0 | unknown; None when not read through
    layout: str | None = None
    warnings: tuple[str, ...] = ()  # e.g. an unrecognised layout: not problems, ok stays True

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "ok": self.ok,
            "layout": self.layout,
            "members": self.members,
            "file_version": self.file_version,
            "dump_member": self.dump_member,
            "size": self.size,
            "content_hash": self.content_hash,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "error_code": self.error_code,
        }


@dataclass(frozen=True)
class UploadResult:
    local_path: str
    remote_path: str | None
    size: int | None
    content_hash: str | None
    status: str  # completed | skipped | failed
    message: str = ""
    resumed_from: int | None = None
    duration_s: float = 0.0
    error_code: str | None = None
    hint: str | None = None
    exit_code: int = 0

    @property
    def bytes_per_s(self) -> float:
        if self.status != "completed" or not self.size or self.duration_s <= 0:
            return 0.0
        return self.size / self.duration_s

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.local_path,
            "remote_path": self.remote_path,
            "size": self.size,
            "content_hash": self.content_hash,
            "status": self.status,
            "message": self.message,
            "resumed_from": self.resumed_from,
            "duration_s": round(self.duration_s, 3),
            "bytes_per_s": round(self.bytes_per_s, 1),
            "error_code": self.error_code,
            "hint": self.hint,
        }
