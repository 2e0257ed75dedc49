"""Test isolation: a temp home for every dir, a scrubbed environment, fixed width.

Every test gets its own FERMENTRACK_BACKUP_HOME and HOME, no Dropbox credentials from
the developer's shell, and an in-memory keyring unless it asks for the real one (or
for `cron_keyring`, one that a cron-like subprocess can open too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SCRUBBED = (
    "DROPBOX_APP_KEY",
    "DROPBOX_APP_SECRET",
    "FERMENTRACK_BACKUP_CONFIG",
    "FERMENTRACK_BACKUP_REMOTE_FOLDER",
    "FERMENTRACK_BACKUP_CONNECTION",
    "FERMENTRACK_BACKUP_ENV_FILE",
    "FERMENTRACK_BACKUP_TOKEN_STORE",
    "FERMENTRACK_BACKUP_CALLBACK_PORT",
    "NO_COLOR",
    "BROWSER",
    "SSH_CONNECTION",
)


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path / "fb-home"
    monkeypatch.setenv("FERMENTRACK_BACKUP_HOME", str(home))
    # A fresh HOME too: keyring reads keyringrc.cfg from it, in this process and in the
    # cron-like token probe (which sees HOME but no XDG_CONFIG_HOME).
    # (outside tmp_path, which some tests expect to hold only what they made)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("user-home")))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    yield home


@pytest.fixture
def home(isolated_home: Path) -> Path:
    return isolated_home


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A fresh copy of the committed sample backup in its own folder."""
    from tests.samples import SAMPLE

    src_dir = tmp_path / "backups"
    src_dir.mkdir()
    dest = src_dir / SAMPLE.name
    dest.write_bytes(SAMPLE.read_bytes())
    return dest


@pytest.fixture
def subprocess_env(isolated_home: Path) -> dict[str, str]:
    """Environment for running the installed entry point in a subprocess."""
    env = dict(os.environ)
    env["FERMENTRACK_BACKUP_HOME"] = str(isolated_home)
    return env


@pytest.fixture(autouse=True)
def memory_keyring(request: pytest.FixtureRequest) -> Iterator[object]:
    """An in-memory keyring for in-process tests, unless the test wants the real one."""
    if request.node.get_closest_marker("keyring_real"):
        yield None
        return
    import keyring.core

    from tests.keyring_backends import MemoryKeyring

    # save the raw slot: keyring.get_keyring() would run backend detection (D-Bus) each test
    previous = keyring.core._keyring_backend
    backend = MemoryKeyring()
    keyring.core.set_keyring(backend)
    yield backend
    keyring.core._keyring_backend = previous


@pytest.fixture
def cron_keyring(memory_keyring: object, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A keyring cron can reach, selected by $HOME's keyringrc.cfg for this process and probes.

    Returns the file the keyring keeps its entries in.
    """
    import sys

    import keyring.core

    from tests.keyring_backends import HomeFileKeyring

    select_cron_keyring("tests.keyring_backends.HomeFileKeyring")
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # keyring-path prepends to it
    # Forget the memory keyring: detect from the config, exactly as a probe does.
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    return HomeFileKeyring.path()


def select_cron_keyring(backend: str) -> Path:
    """Write $HOME's keyringrc.cfg: `backend` (importable from the repo root) is selected."""
    config = Path.home() / ".config" / "python_keyring" / "keyringrc.cfg"
    config.parent.mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parent.parent
    config.write_text(f"[backend]\ndefault-keyring = {backend}\nkeyring-path = {repo}\n")
    return config


@pytest.fixture
def fake_dropbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The fake Dropbox over HTTPS on 127.0.0.1, with this process's SDK pointed at it."""
    from tests.fakes.dropbox_server import FakeDropbox, point_sdk_at

    with FakeDropbox(tmp_path / "fake-dropbox") as fake:
        point_sdk_at(fake, monkeypatch)
        monkeypatch.setenv("DROPBOX_APP_KEY", fake.app_key)
        monkeypatch.setenv("DROPBOX_APP_SECRET", fake.app_secret)
        yield fake


@pytest.fixture
def dropbox_env(fake_dropbox: Any, subprocess_env: dict[str, str]) -> dict[str, str]:
    """Environment for a CLI subprocess talking to the fake (tokens in the file store)."""
    return {
        **subprocess_env,
        **fake_dropbox.env(),
        "DROPBOX_APP_KEY": fake_dropbox.app_key,
        "DROPBOX_APP_SECRET": fake_dropbox.app_secret,
        "FERMENTRACK_BACKUP_TOKEN_STORE": "file",
    }


@pytest.fixture
def make_dropbox_conn(fake_dropbox: Any) -> Callable[..., Any]:
    """Link a Dropbox connection without the OAuth dance (tests of linking do the dance)."""

    def make(label: str = "dropbox", store: str = "keyring", pkce: bool = False) -> Any:
        import uuid

        from fermentrack_backup_cli.auth.tokens import open_store
        from fermentrack_backup_cli.core.context import Context
        from fermentrack_backup_cli.models import Connection

        app = Context.create()
        conn = Connection(
            id=str(uuid.uuid4()),
            provider="dropbox",
            label=label,
            account_id=fake_dropbox.account_id,
            account_email=fake_dropbox.email,
            account_name=fake_dropbox.display_name,
            token_store=store,
        )
        open_store(store, app.dirs.token_file).set(
            conn.id, fake_dropbox.issue_refresh_token(pkce=pkce)
        )
        app.db.connections.add(conn)
        app.close()
        return conn

    return make
