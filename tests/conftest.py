"""Test isolation: a temp home for every dir, a scrubbed environment, fixed width.

Every test gets its own FERMENTRACK_BACKUP_HOME, no Dropbox credentials from the
developer's shell, and an in-memory keyring unless it asks for the real one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "fb-home"
    monkeypatch.setenv("FERMENTRACK_BACKUP_HOME", str(home))
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    from fermentrack_backup_cli.cli.common import state

    state.app = None
    state.config = None
    state.debug = False
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
