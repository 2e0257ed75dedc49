"""Keyring backends for tests: in memory, hanging, locked, one that leaks secrets, and
one in a file under $HOME that a process with cron's bare environment can open too.

Tests select them explicitly (keyring.set_keyring or PYTHON_KEYRING_BACKEND); their
negative priority keeps them out of keyring's automatic detection.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

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


class HomeFileKeyring(KeyringBackend):
    """Passwords in $HOME/cron-keyring.json: a keyring cron can reach (unlike a session's
    Secret Service). Selected through $HOME/.config/python_keyring/keyringrc.cfg, which
    keyring reads even in a bare environment, so a test process and a cron-like probe
    subprocess with the same HOME open the same keyring.
    """

    priority = -1  # type: ignore[assignment]  # see MemoryKeyring

    @staticmethod
    def path() -> Path:
        return Path.home() / "cron-keyring.json"

    def _load(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self.path().read_text())
        except FileNotFoundError:
            return {}
        return data

    def _save(self, data: dict[str, str]) -> None:
        fd = os.open(self.path(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("No such password!")
        self._save(data)
