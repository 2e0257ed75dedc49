"""The one exception hierarchy and the exit codes the CLI documents.

Library code raises `BackupError` subclasses; `cli` catches them once and renders
`error: <message>` plus `hint: <hint>`. No third-party imports here.
"""

from __future__ import annotations

from typing import ClassVar


class ExitCode:
    """Exit codes, stable and documented in the README."""

    OK = 0
    FAILURE = 1  # an operation failed (I/O, network, upload error)
    USAGE = 2  # bad command line, bad config, unknown key or connection
    NOT_FOUND = 3  # a file, archive, connection or remote file does not exist
    AUTH = 4  # not linked, token revoked, needs re-link, keyring unavailable
    VERIFY = 5  # an archive is corrupt or a stored copy does not match
    LOCKED = 6  # another run holds the lock
    UNHEALTHY = 7  # `status` found a connection unhealthy or a backup too old
    INSUFFICIENT_SPACE = 8  # the target is full
    NETWORK = 9  # network unreachable, retries exhausted, timeouts
    CANCELLED = 130  # Ctrl-C / SIGINT / SIGTERM


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
