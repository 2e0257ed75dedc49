"""Where refresh tokens live: the OS keyring (default) or an opt-in 0600 file.

Only this module imports keyring, and only inside functions, so commands that never
touch a token never pay for it. Every keyring call runs with a deadline: a locked or
absent Secret Service must fail a cron job with a hint, not hang it. There is no silent
fallback from the keyring to the file: the file store is used only when configured.
Nothing raised here contains a token.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from .. import errors
from ..config.keys import TOKEN_STORES
from ..fsutil import FileLock, atomic_write, os_error
from ..paths import ensure_dir

SERVICE_NAME = "fermentrack-backup"
TIMEOUT_ENV = "FERMENTRACK_BACKUP_KEYRING_TIMEOUT"
DEFAULT_KEYRING_TIMEOUT = 10.0
PROBE_USERNAME = "fermentrack-backup-probe"
MAX_TOKEN_FILE = 1 << 20  # a few hundred bytes per connection


KEYRING_HINT = (
    "run a Secret Service (e.g. gnome-keyring) in this session, configure another keyring "
    "backend (PYTHON_KEYRING_BACKEND or keyringrc.cfg), or opt in to the file store with "
    "`fermentrack-backup config set token_store file`"
)

T = TypeVar("T")


class InsecureTokenFile(errors.AuthError):
    """The token file is readable or writable by others, or owned by someone else."""

    code = "token_file_insecure"


class TokenFileInvalid(errors.AuthError):
    code = "token_file_invalid"


def redact(text: str, *secrets_: str) -> str:
    """`text` with every non-empty secret (and its URL-encoded form) replaced by ***."""
    variants = {v for s in secrets_ if s for v in (s, quote(s, safe=""))}
    for secret in sorted(variants, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class TokenStore(Protocol):
    """A refresh-token store keyed by connection id."""

    @property
    def name(self) -> str: ...

    def get(self, conn_id: str) -> str | None: ...

    def set(self, conn_id: str, token: str) -> None: ...

    def delete(self, conn_id: str) -> None:
        """Remove the token; a missing token is not an error."""

    def probe(self) -> None:
        """Write, read back and delete a probe entry; raise a BackupError if that fails."""

    def describe(self) -> str: ...


def keyring_timeout(environ: Mapping[str, str] | None = None) -> float:
    raw = (os.environ if environ is None else environ).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_KEYRING_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise errors.ConfigError(
            f"invalid {TIMEOUT_ENV}: {raw!r}", hint="expected seconds, e.g. 10 or 2.5"
        )
    return value


class KeyringStore:
    """Tokens in the OS keyring: service `fermentrack-backup`, username = connection id.

    The backend is whatever keyring itself selects (PYTHON_KEYRING_BACKEND,
    keyringrc.cfg, then the best available), checked to be a real one.
    """

    name = "keyring"

    def __init__(self, *, timeout: float | None = None, service: str = SERVICE_NAME) -> None:
        self.timeout = keyring_timeout() if timeout is None else timeout
        self.service = service

    def __repr__(self) -> str:
        return f"KeyringStore(service={self.service!r}, timeout={self.timeout!r})"

    def get(self, conn_id: str) -> str | None:
        def call() -> str | None:
            value = _backend().get_password(self.service, conn_id)
            return value if isinstance(value, str) else None

        return self._run(call, "read a token", ())

    def set(self, conn_id: str, token: str) -> None:
        self._run(
            lambda: _backend().set_password(self.service, conn_id, token), "store a token", (token,)
        )

    def delete(self, conn_id: str) -> None:
        def call() -> None:
            from keyring.errors import PasswordDeleteError

            backend = _backend()
            try:
                backend.delete_password(self.service, conn_id)
            except PasswordDeleteError:
                # Missing entries raise this; a real failure shows as a token still there.
                if backend.get_password(self.service, conn_id) is not None:
                    raise

        self._run(call, "delete a token", ())

    def probe(self) -> None:
        value = secrets.token_urlsafe(16)

        def call() -> bool:
            backend = _backend()
            backend.set_password(self.service, PROBE_USERNAME, value)
            ok: bool = backend.get_password(self.service, PROBE_USERNAME) == value
            backend.delete_password(self.service, PROBE_USERNAME)
            return ok

        if not self._run(call, "store a test entry", (value,)):
            raise errors.KeyringUnavailable(
                f"the keyring ({self.backend_name()}) did not return what was stored",
                hint=KEYRING_HINT,
            )

    def backend_name(self) -> str:
        return str(self._run(lambda: _backend().name, "open the keyring", ()))

    def describe(self) -> str:
        try:
            return f"keyring ({self.backend_name()})"
        except errors.KeyringUnavailable:
            return "keyring (unavailable)"

    def _run(self, fn: Callable[[], T], what: str, secrets_: tuple[str, ...]) -> T:
        """Call `fn` in a daemon thread; give up after the timeout.

        A call that times out keeps running in its daemon thread (it cannot be
        interrupted) but no longer blocks this process or its exit.
        """
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=target, name="keyring-call", daemon=True)
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            raise errors.KeyringUnavailable(
                f"the keyring did not answer within {self.timeout:g} s (trying to {what})",
                hint=KEYRING_HINT
                + f"; if it is just slow to unlock, raise {TIMEOUT_ENV} (seconds)",
            )
        if "error" in box:
            raise _keyring_error(box["error"], what, secrets_) from None
        value: T = box["value"]
        return value


def _backend() -> Any:
    """The selected keyring backend, refused if it cannot really store anything."""
    import keyring
    from keyring.backends import chainer, fail, null

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring | null.Keyring) or (
        isinstance(backend, chainer.ChainerBackend) and not backend.backends
    ):
        raise errors.KeyringUnavailable(
            f"no usable keyring backend (keyring selected {backend.name})", hint=KEYRING_HINT
        )
    return backend


def _keyring_error(exc: BaseException, what: str, secrets_: tuple[str, ...]) -> BaseException:
    if isinstance(exc, errors.BackupError | KeyboardInterrupt | SystemExit):
        return exc
    detail = redact(str(exc), *secrets_).strip().splitlines()
    text = f"{type(exc).__name__}: {detail[0][:200]}" if detail else type(exc).__name__
    return errors.KeyringUnavailable(f"cannot {what} in the keyring ({text})", hint=KEYRING_HINT)


class FileStore:
    """Tokens in a JSON file `{connection id: refresh token}`, an explicit opt-in.

    The only protection is file permissions (0600 file, 0700 directory), like
    rclone's config or ~/.netrc: anyone who can read the file as you, or as root,
    has the tokens. Like ssh with a private key, a file that others could read or
    write, or that another user owns, is refused rather than used.
    """

    name = "file"

    def __init__(self, path: Path, *, lock_timeout: float = 10.0) -> None:
        self.path = path
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    def get(self, conn_id: str) -> str | None:
        return self._read().get(conn_id)

    def set(self, conn_id: str, token: str) -> None:
        with self._lock():
            tokens = self._read()
            tokens[conn_id] = token
            self._write(tokens)

    def delete(self, conn_id: str) -> None:
        with self._lock():
            tokens = self._read()
            if tokens.pop(conn_id, None) is not None:
                self._write(tokens)

    def probe(self) -> None:
        value = secrets.token_urlsafe(16)
        self.set(PROBE_USERNAME, value)
        try:
            if self.get(PROBE_USERNAME) != value:
                raise TokenFileInvalid(
                    f"the token file {self.path} did not return what was stored",
                    hint="check the disk and the file's owner",
                )
        finally:
            self.delete(PROBE_USERNAME)

    def describe(self) -> str:
        return f"file ({self.path}, mode 0600)"

    def _lock(self) -> FileLock:
        ensure_dir(self.path.parent, 0o700)
        return FileLock(
            self.path.with_name(f".{self.path.name}.lock"), self.lock_timeout, "the token file"
        )

    def _read(self) -> dict[str, str]:
        try:
            if not stat.S_ISREG(os.lstat(self.path).st_mode):  # a FIFO would block forever
                raise self._not_regular()
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise os_error(exc, "read the token file", self.path) from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):  # swapped since the lstat
                raise self._not_regular()
            self._check_safe(info)
            raw = handle.read(MAX_TOKEN_FILE + 1)
        if len(raw) > MAX_TOKEN_FILE:
            raise TokenFileInvalid(
                f"the token file {self.path} is larger than {MAX_TOKEN_FILE // 1024} KiB",
                hint="restore it from a backup, or delete it and link the connections again",
            )
        try:
            tokens = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            tokens = None
        if not isinstance(tokens, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()
        ):
            # Never quote the content: it holds tokens.
            raise TokenFileInvalid(
                f"the token file {self.path} is not a JSON object of connection ids to tokens",
                hint="restore it from a backup, or delete it and link the connections again",
            )
        return tokens

    def _not_regular(self) -> TokenFileInvalid:
        return TokenFileInvalid(
            f"the token file {self.path} is not a regular file",
            hint=f"move it away (`mv '{self.path}' '{self.path}.bad'`) and link the connections "
            "again",
        )

    def _check_safe(self, st: os.stat_result) -> None:
        mode = stat.S_IMODE(st.st_mode)
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise InsecureTokenFile(
                f"the token file {self.path} is owned by another user (uid {st.st_uid})",
                hint=f"chown it to the user running fermentrack-backup: chown $USER {self.path}",
            )
        if mode & 0o077:
            raise InsecureTokenFile(
                f"permissions {mode:04o} for the token file {self.path} are too open",
                hint=f"it must not be accessible by others: chmod 600 {self.path}",
            )

    def _write(self, tokens: dict[str, str]) -> None:
        data = json.dumps(tokens, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        try:
            atomic_write(self.path, data, mode=0o600)
        except OSError as exc:
            raise os_error(exc, "write the token file", self.path) from None


def open_store(kind: str, token_file: Path) -> TokenStore:
    """The store named by the `token_store` setting."""
    if kind == "keyring":
        return KeyringStore()
    if kind == "file":
        return FileStore(token_file)
    raise errors.InvalidValue(
        f"unknown token store {kind!r}",
        hint="expected one of: " + ", ".join(TOKEN_STORES),
    )
