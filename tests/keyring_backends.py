"""Keyring backends for tests: in memory, hanging, locked, and one that leaks secrets.

Tests select them explicitly (keyring.set_keyring or PYTHON_KEYRING_BACKEND); their
negative priority keeps them out of keyring's automatic detection.
"""

from __future__ import annotations

import threading
import time

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError, PasswordSetError


class MemoryKeyring(KeyringBackend):
    """Keeps passwords in a dict; selected explicitly with keyring.set_keyring()."""

    # Negative like keyring's null backend: importing this module must not make these
    # backends candidates for keyring's own detection (or the chainer), which the
    # keyring_real test relies on to find the real Secret Service.
    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise PasswordDeleteError("No such password!") from None


class HangingKeyring(KeyringBackend):
    """Every call blocks like a Secret Service waiting for an unlock prompt nobody sees."""

    priority = -1  # type: ignore[assignment]  # see MemoryKeyring

    def __init__(self, seconds: float = 30.0) -> None:
        super().__init__()
        self.seconds = seconds
        self.released = threading.Event()
        self.entered = 0
        self.finished = 0

    def _hang(self) -> None:
        self.entered += 1
        self.released.wait(self.seconds)
        self.finished += 1

    def get_password(self, service: str, username: str) -> str | None:
        self._hang()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang()

    def delete_password(self, service: str, username: str) -> None:
        self._hang()


class LockedKeyring(KeyringBackend):
    """A collection that stays locked (the user dismissed the unlock prompt)."""

    priority = -1  # type: ignore[assignment]  # see MemoryKeyring

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    set_password = delete_password = get_password  # type: ignore[assignment]


class LeakyKeyring(KeyringBackend):
    """Fails with the password in its message, as a careless backend might."""

    priority = -1  # type: ignore[assignment]  # see MemoryKeyring

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"could not store {password!r} for {username}")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("boom")


class SlowKeyring(MemoryKeyring):
    """A memory keyring that answers after a short delay (a slow D-Bus round trip)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(self.delay)
        return super().get_password(service, username)
