"""The token stores: keyring with deadlines and no silent fallback, and the opt-in 0600 file."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import traceback
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.auth.tokens import (
    KEYRING_HINT,
    PROBE_USERNAME,
    SERVICE_NAME,
    TIMEOUT_ENV,
    FileStore,
    InsecureTokenFile,
    KeyringStore,
    TokenFileInvalid,
    TokenStore,
    keyring_timeout,
    open_store,
    redact,
)
from tests.keyring_backends import HangingKeyring, LeakyKeyring, LockedKeyring, MemoryKeyring

TOKEN = "sl.refresh-" + "A1b2C3d4" * 6


def use_backend(monkeypatch: pytest.MonkeyPatch, backend: KeyringBackend) -> None:
    """Select `backend` for this test; monkeypatch restores the previous choice."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)


def full_text(exc: BaseException) -> str:
    """Everything a traceback or the CLI could show about `exc`."""
    parts = ["".join(traceback.format_exception(exc)), repr(exc), str(exc.args)]
    if isinstance(exc, errors.BackupError):
        parts.append(json.dumps(exc.to_dict()))
    return "\n".join(parts)


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    backend = MemoryKeyring()
    use_backend(monkeypatch, backend)
    return backend


# --- keyring ------------------------------------------------------------------------------------


def test_keyring_store_round_trips_under_the_service_and_connection_id(
    memory: MemoryKeyring,
) -> None:
    store: TokenStore = KeyringStore()
    assert store.get("dropbox-1") is None
    store.set("dropbox-1", TOKEN)
    assert memory.passwords == {(SERVICE_NAME, "dropbox-1"): TOKEN}
    assert store.get("dropbox-1") == TOKEN
    store.delete("dropbox-1")
    assert store.get("dropbox-1") is None
    store.delete("dropbox-1")  # deleting a missing token is not an error


def test_keyring_probe_leaves_nothing_behind(memory: MemoryKeyring) -> None:
    KeyringStore().probe()
    assert memory.passwords == {}


def test_keyring_describe_names_the_backend(memory: MemoryKeyring) -> None:
    assert KeyringStore().describe() == f"keyring ({memory.name})"
    assert "MemoryKeyring" in KeyringStore().describe()


def test_keyring_store_honours_python_keyring_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backends.MemoryKeyring")
    store = KeyringStore()
    store.set("c", TOKEN)
    assert isinstance(keyring.get_keyring(), MemoryKeyring)
    assert store.get("c") == TOKEN


@pytest.mark.parametrize(
    "backend",
    [fail.Keyring(), null.Keyring(), LockedKeyring()],
    ids=["fail", "null", "locked"],
)
def test_an_unusable_keyring_stops_with_the_hint_and_no_fallback(
    monkeypatch: pytest.MonkeyPatch, backend: KeyringBackend, tmp_path: Path
) -> None:
    use_backend(monkeypatch, backend)
    store = KeyringStore()
    for call in (store.probe, lambda: store.set("c", TOKEN), lambda: store.get("c")):
        with pytest.raises(errors.KeyringUnavailable) as info:
            call()
        assert info.value.hint == KEYRING_HINT
        assert info.value.code == "keyring_unavailable"
        assert info.value.exit_code == errors.ExitCode.AUTH
        assert TOKEN not in full_text(info.value)
    assert list(tmp_path.rglob("tokens.json")) == []


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
def test_describe_reports_an_unusable_keyring(
    monkeypatch: pytest.MonkeyPatch, backend: KeyringBackend
) -> None:
    use_backend(monkeypatch, backend)
    assert KeyringStore().describe() == "keyring (unavailable)"


def test_a_chainer_with_no_backends_is_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    use_backend(monkeypatch, chainer.ChainerBackend())
    with pytest.raises(errors.KeyringUnavailable, match="no usable keyring backend"):
        KeyringStore().set("c", TOKEN)


def test_a_backend_that_cannot_load_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no_such_module.Keyring")
    with pytest.raises(errors.KeyringUnavailable) as info:
        KeyringStore().get("c")
    assert info.value.hint == KEYRING_HINT


def test_a_hanging_keyring_times_out_instead_of_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = HangingKeyring(seconds=30)
    use_backend(monkeypatch, backend)
    monkeypatch.setenv(TIMEOUT_ENV, "0.5")
    try:
        with pytest.raises(errors.KeyringUnavailable) as info:
            KeyringStore().set("c", TOKEN)
        # The call gave up while the backend was still blocked inside set_password.
        assert backend.entered == 1 and backend.finished == 0
    finally:
        backend.released.set()
    assert "did not answer within 0.5 s" in info.value.message
    assert TIMEOUT_ENV in (info.value.hint or "")
    assert TOKEN not in full_text(info.value)


def test_a_backend_error_never_carries_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    use_backend(monkeypatch, LeakyKeyring())
    with pytest.raises(errors.KeyringUnavailable) as info:
        KeyringStore().set("c", TOKEN)
    assert "PasswordSetError" in info.value.message
    assert "***" in info.value.message
    assert TOKEN not in full_text(info.value)
    with pytest.raises(errors.KeyringUnavailable, match="RuntimeError: boom"):
        KeyringStore().delete("c")


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "nan", "99999"])
def test_a_bad_keyring_timeout_setting_is_a_config_error(raw: str) -> None:
    with pytest.raises(errors.ConfigError):
        keyring_timeout({TIMEOUT_ENV: raw})


def test_keyring_timeout_defaults_to_ten_seconds() -> None:
    assert keyring_timeout({}) == 10.0
    assert keyring_timeout({TIMEOUT_ENV: " 2.5 "}) == 2.5


# --- file ---------------------------------------------------------------------------------------


def test_file_store_round_trips_in_a_0600_file_in_a_0700_dir(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tokens.json"
    store: TokenStore = FileStore(path)
    assert store.get("a") is None
    store.set("a", TOKEN)
    store.set("b", "other")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"a": TOKEN, "b": "other"}
    assert store.get("a") == TOKEN
    store.delete("a")
    store.delete("missing")
    assert json.loads(path.read_text()) == {"b": "other"}
    assert store.describe() == f"file ({path}, mode 0600)"


def test_file_store_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tokens.json"
    store = FileStore(path)
    store.set("a", TOKEN)
    before = path.read_bytes()
    new_token = TOKEN[::-1]

    def fail_replace(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", fail_replace)
    with pytest.raises(errors.InsufficientSpace) as info:
        store.set("b", new_token)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tokens.json.lock", "tokens.json"]
    assert new_token not in full_text(info.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_file_store_refuses_a_file_others_can_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"a": TOKEN}))
    path.chmod(mode)
    store = FileStore(path)
    for call in (lambda: store.get("a"), lambda: store.set("b", "x"), store.probe):
        with pytest.raises(InsecureTokenFile) as info:
            call()
        assert f"{mode:04o}" in info.value.message
        assert f"chmod 600 {path}" in (info.value.hint or "")
        assert isinstance(info.value, errors.AuthError)
        assert TOKEN not in full_text(info.value)
    assert stat.S_IMODE(path.stat().st_mode) == mode  # never silently "fixed"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file away")
def test_file_store_refuses_a_file_owned_by_another_user(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"a": TOKEN}))
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(InsecureTokenFile, match="owned by another user") as info:
        FileStore(path).get("a")
    assert "chown" in (info.value.hint or "")


def test_file_store_refuses_a_corrupt_file_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    for content in (f'{{"a": "{TOKEN}"', f'["{TOKEN}"]', f'{{"a": ["{TOKEN}"]}}'):
        path.write_text(content)
        path.chmod(0o600)
        with pytest.raises(TokenFileInvalid) as info:
            FileStore(path).get("a")
        assert TOKEN not in full_text(info.value)


def test_file_store_does_not_follow_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    real.write_text("{}")
    real.chmod(0o600)
    link = tmp_path / "tokens.json"
    link.symlink_to(real)
    with pytest.raises(errors.BackupError):
        FileStore(link).get("a")


def test_file_store_probe_leaves_no_probe_entry(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = FileStore(path)
    store.set("a", TOKEN)
    store.probe()
    assert PROBE_USERNAME not in json.loads(path.read_text())


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_file_store_probe_reports_an_unwritable_dir(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir(mode=0o500)
    try:
        with pytest.raises(errors.PermissionDenied):
            FileStore(directory / "tokens.json").probe()
    finally:
        directory.chmod(0o700)


# --- factory, redaction, import cost ------------------------------------------------------------


def test_open_store_builds_the_configured_store(tmp_path: Path) -> None:
    assert isinstance(open_store("keyring", tmp_path / "t.json"), KeyringStore)
    file_store = open_store("file", tmp_path / "t.json")
    assert isinstance(file_store, FileStore) and file_store.name == "file"
    with pytest.raises(errors.InvalidValue):
        open_store("plaintext", tmp_path / "t.json")


def test_redact_scrubs_every_secret_and_its_url_encoding() -> None:
    text = "token=a/b+c&again a/b+c, other=xyz, a%2Fb%2Bc"
    assert redact(text, "a/b+c", "xyz", "") == "token=***&again ***, other=***, ***"
    assert redact("nothing here") == "nothing here"


def test_importing_auth_loads_neither_keyring_nor_dropbox() -> None:
    code = (
        "import sys\n"
        "import fermentrack_backup_cli.auth.session, fermentrack_backup_cli.auth.listener\n"
        "import fermentrack_backup_cli.auth.tokens\n"
        "bad = [m for m in ('keyring', 'dropbox') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the real keyring (CI runs this under dbus-run-session with gnome-keyring) -----------------


@pytest.mark.keyring_real
def test_real_keyring_round_trip_and_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.environ.get("FERMENTRACK_REAL_KEYRING") != "1":
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                "CI must run the keyring_real tests with FERMENTRACK_REAL_KEYRING=1 under "
                "dbus-run-session with an unlocked gnome-keyring (or deselect them with "
                "-m 'not keyring_real' in the ordinary test job)"
            )
        pytest.skip("set FERMENTRACK_REAL_KEYRING=1 with a real Secret Service to run")
    # Forget any backend a test or conftest selected; keyring detects the real one again.
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    if os.environ.get("PYTHON_KEYRING_BACKEND", "").startswith("tests."):
        monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    store = KeyringStore(timeout=30)
    description = store.describe()
    assert description != "keyring (unavailable)"
    selected = keyring.get_keyring()
    chained = (
        getattr(selected, "backends", []) if isinstance(selected, chainer.ChainerBackend) else []
    )
    assert all(not type(b).__module__.startswith("tests.") for b in [selected, *chained]), (
        description
    )
    store.probe()
    conn_id = f"pytest-{secrets.token_hex(6)}"
    token = secrets.token_urlsafe(40)
    try:
        store.set(conn_id, token)
        assert store.get(conn_id) == token
        assert KeyringStore(timeout=30).get(conn_id) == token
    finally:
        store.delete(conn_id)
    assert store.get(conn_id) is None


def test_a_token_file_that_is_a_fifo_is_refused_instead_of_blocking(
    home: Path, subprocess_env: dict[str, str]
) -> None:
    import os

    from tests.cli_helpers import cli

    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    os.mkfifo(data / "tokens.json", 0o600)
    env = {**subprocess_env, "FERMENTRACK_BACKUP_TOKEN_STORE": "file"}
    result = cli("doctor", env=env, timeout=30)
    assert result.returncode == 7
    assert "is not a regular file" in result.stdout
