"""The one exception hierarchy and the exit codes the CLI documents.

Library code raises `BackupError` subclasses; `cli` catches them once and renders
`error: <message>` plus `hint: <hint>`. No third-party imports here.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple


class ExitCode:
    """Exit codes, stable; what each means is `EXIT_CODES` (the README's table and the
    root `--help` are made from it, and tests/test_exit_codes.py holds them to it)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    AUTH = 4
    VERIFY = 5
    LOCKED = 6
    UNHEALTHY = 7
    INSUFFICIENT_SPACE = 8
    NETWORK = 9
    CANCELLED = 130


class ExitRow(NamedTuple):
    """One exit code: `brief` for `--help` (80 columns), `meaning` for the README."""

    code: int
    name: str
    brief: str
    meaning: str


EXIT_CODES: tuple[ExitRow, ...] = (
    ExitRow(
        ExitCode.OK,
        "ok",
        'everything worked (also "already uploaded")',
        'everything worked (including "already uploaded")',
    ),
    ExitRow(
        ExitCode.FAILURE,
        "failure",
        "an operation failed (I/O, a conflict, a bug)",
        "an operation failed (I/O, a conflict without `--overwrite`, a damaged history "
        "database, a file where a folder must be, an unexpected error); prune refused because "
        "the clock is obviously wrong (`clock_wrong`)",
    ),
    ExitRow(
        ExitCode.USAGE,
        "usage",
        "bad command line, config, value or connection",
        "bad command line, config, key, value (not a whole or finite number, a bad label), "
        "contradictory flags, or connection reference; config or env file not a small regular "
        "file; provider not enabled; port busy; `--to local:` with no folder; a file or folder "
        "name too long for the filesystem",
    ),
    ExitRow(
        ExitCode.NOT_FOUND,
        "not found",
        "no such file, archive, connection or stored copy",
        "a file, folder with no archives, connection or stored backup does not exist; a local "
        "target folder does not exist, or is not on the filesystem it was linked on (drive not "
        "mounted)",
    ),
    ExitRow(
        ExitCode.AUTH,
        "auth",
        "not linked, token revoked, keyring unavailable",
        "not linked, token revoked (needs re-link), keyring unavailable, invalid state, "
        "access denied",
    ),
    ExitRow(
        ExitCode.VERIFY,
        "verify",
        "an archive is damaged, or a stored copy differs",
        "an archive is corrupt / not an archive / beyond the "
        "[limits](#limits-what-verify-refuses-to-unpack), a stored copy does not match, or "
        "(with `--strict`) an archive's layout is unrecognised",
    ),
    ExitRow(
        ExitCode.LOCKED,
        "locked",
        "another run holds the lock for this target",
        "another run holds the lock for this target",
    ),
    ExitRow(
        ExitCode.UNHEALTHY,
        "unhealthy",
        "status: a connection unhealthy, a backup too old",
        "`status` found an unhealthy connection or a backup older than `--max-age`",
    ),
    ExitRow(
        ExitCode.INSUFFICIENT_SPACE,
        "insufficient space",
        "the target is full",
        "the target is full (the message says how much is needed and free)",
    ),
    ExitRow(
        ExitCode.NETWORK,
        "network",
        "network unreachable, retries or time budget used up",
        "network unreachable, retries exhausted (still rate limited, server errors, the "
        "network), a `Retry-After` beyond the time budget left, or the time budget used up",
    ),
    ExitRow(
        ExitCode.CANCELLED,
        "cancelled",
        "interrupted (Ctrl-C, SIGTERM), a prompt cancelled",
        "interrupted (Ctrl-C, SIGTERM), or a prompt cancelled (Ctrl-C or Ctrl-D at it)",
    ),
)
"""Every exit code the CLI documents, in order: the one source of its meaning."""


class BackupError(Exception):
    """Base of every error the user can see.

    `code` is a stable machine-readable identifier (also stored in history rows),
    `message` says what happened, `hint` what to do next.
    """

    code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = ExitCode.FAILURE

    def __init__(self, message: str, hint: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class UsageError(BackupError):
    code = "usage"
    exit_code = ExitCode.USAGE


class ConfigError(BackupError):
    code = "config_invalid"
    exit_code = ExitCode.USAGE


class UnknownConfigKey(ConfigError):
    code = "config_unknown_key"


class InvalidValue(ConfigError):
    code = "invalid_value"


class NotFound(BackupError):
    code = "not_found"
    exit_code = ExitCode.NOT_FOUND


class ConnectionNotFound(NotFound):
    code = "connection_not_found"


class AmbiguousConnection(UsageError):
    code = "connection_ambiguous"


class NoArchives(NotFound):
    code = "no_archives"


class NotAnArchive(BackupError):
    code = "not_an_archive"
    exit_code = ExitCode.VERIFY


class CorruptArchive(BackupError):
    code = "corrupt_archive"
    exit_code = ExitCode.VERIFY


class VerifyMismatch(BackupError):
    code = "verify_mismatch"
    exit_code = ExitCode.VERIFY


class RemoteConflict(BackupError):
    """Same name at the target with different content and no --overwrite."""

    code = "remote_conflict"
    exit_code = ExitCode.FAILURE


class TargetError(BackupError):
    code = "target_error"
    exit_code = ExitCode.FAILURE


class PermissionDenied(TargetError):
    code = "permission_denied"


class InsufficientSpace(BackupError):
    code = "insufficient_space"
    exit_code = ExitCode.INSUFFICIENT_SPACE


class SourceChanged(BackupError):
    code = "source_changed"
    exit_code = ExitCode.FAILURE


class UnknownProvider(UsageError):
    """A linked connection whose provider this version does not have (a newer version
    linked it, or the provider was removed)."""

    code = "unknown_provider"


class ProviderDisabled(BackupError):
    code = "provider_disabled"
    exit_code = ExitCode.USAGE


class AuthError(BackupError):
    code = "auth"
    exit_code = ExitCode.AUTH


class NotLinked(AuthError):
    code = "not_linked"


class NeedsRelink(AuthError):
    code = "needs_relink"


class InvalidState(AuthError):
    code = "invalid_state"


class AccessDenied(AuthError):
    code = "access_denied"


class KeyringUnavailable(AuthError):
    code = "keyring_unavailable"


class NetworkError(BackupError):
    code = "network"
    exit_code = ExitCode.NETWORK


class RetryExhausted(NetworkError):
    code = "retry_exhausted"


class Locked(BackupError):
    code = "locked"
    exit_code = ExitCode.LOCKED


class Cancelled(BackupError):
    code = "cancelled"
    exit_code = ExitCode.CANCELLED


class Transient(NetworkError):
    """A failure worth retrying: 429, 5xx, timeouts, connection resets."""

    code = "transient"

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint, code=code)
        self.retry_after = retry_after


class IncorrectOffset(BackupError):
    """The server holds a different number of bytes of an upload session than we sent."""

    code = "incorrect_offset"

    def __init__(self, correct_offset: int) -> None:
        super().__init__(f"the server expected offset {correct_offset}")
        self.correct_offset = correct_offset


class SessionGone(BackupError):
    """An upload session expired, was closed or is unknown to the server."""

    code = "session_gone"


class ContentHashMismatch(BackupError):
    code = "content_hash_mismatch"
    exit_code = ExitCode.VERIFY


class RemoteNameError(UsageError):
    code = "disallowed_name"


class ClockWrong(BackupError):
    """The system clock is obviously behind what the backups or the history say."""

    code = "clock_wrong"
    exit_code = ExitCode.FAILURE


class MaxDurationExceeded(RetryExhausted):
    """The run's time budget (--max-duration) ran out, during a request or before one."""

    code = "max_duration_exceeded"


class RetryAfterExceedsBudget(RetryExhausted):
    """The server asked to wait longer (Retry-After) than the run's budget has left."""

    code = "retry_after_exceeds_budget"


class BadResponse(NetworkError):
    """An answer the client cannot read (wrong types, not JSON): a proxy, or an API change."""

    code = "bad_response"


class UnknownLayout(BackupError):
    """A sound archive whose layout is not a Fermentrack one, refused under --strict."""

    code = "unknown_layout"
    exit_code = ExitCode.VERIFY
