"""Can cron read the token? The check after `link`, in `doctor`, and after token_store changes.

The keyring trap: linked over SSH, the token lands in a session-only keyring (the Secret
Service on this session's D-Bus) that cron, with no D-Bus session, cannot open. The
cron-like probe runs in a subprocess with only HOME, USER, PATH and LANG; a keyring it CAN
open is a file-backed test backend selected by $HOME's keyringrc.cfg (`cron_keyring`).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.auth import reachability
from fermentrack_backup_cli.auth.tokens import SERVICE_NAME, FileStore, KeyringStore
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import cli, run, run_json
from tests.conftest import select_cron_keyring
from tests.link_support import code_shown

CRON_WARNING = "warning: cron and systemd will not be able to read the token from keyring ("


def link_in_process(fake: Any) -> Any:
    url = run("link", "dropbox", "--print-url").stdout.strip()
    return run("link", "dropbox", "--code", code_shown(fake, url))


def link_result(fake: Any) -> Any:
    """The LinkResult of a two-step link, from the library the CLI calls."""
    from fermentrack_backup_cli.core.context import Context
    from fermentrack_backup_cli.core.link import Linker

    app = Context.create()
    try:
        linker = Linker(app.targets, "dropbox")
        start = linker.begin_two_step(53682)
        return linker.complete_saved(code_shown(fake, start.code_url), None)
    finally:
        app.close()


@pytest.fixture
def session_only_keyring(memory_keyring: Any) -> Any:
    """The in-memory keyring lives in this process only, like a session's Secret Service;
    cron's HOME selects keyring's fail backend, what detection finds without D-Bus on
    Linux (pinned, so a Mac's Keychain cannot make the probe find a keyring)."""
    select_cron_keyring("keyring.backends.fail.Keyring")
    return memory_keyring


@pytest.fixture
def popen_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every subprocess the probe starts (argv and env), passed through unchanged."""
    calls: list[dict[str, Any]] = []
    real = subprocess.Popen

    def spy(argv: Any, **kwargs: Any) -> Any:
        calls.append({"argv": list(argv), "env": dict(kwargs.get("env") or {})})
        return real(argv, **kwargs)

    monkeypatch.setattr(reachability.subprocess, "Popen", spy)
    return calls


# --- link ----------------------------------------------------------------------------------


def test_link_into_a_keyring_cron_cannot_open_warns_with_the_fixes_and_still_links(
    fake_dropbox: Any, session_only_keyring: Any
) -> None:
    result = link_in_process(fake_dropbox)
    assert result.exit_code == 0, result.stderr
    assert CRON_WARNING in result.stderr
    assert "no usable keyring backend" in result.stderr
    assert "systemd --user" in result.stderr
    assert "keyringrc.cfg" in result.stderr
    assert "`fermentrack-backup config set token_store file`" in result.stderr
    assert "link dropbox` again" in result.stderr
    (conn,) = run_json("connections")["connections"]
    token = session_only_keyring.get_password(SERVICE_NAME, conn["id"])
    assert token in fake_dropbox._refresh_tokens
    assert run("status").exit_code == 0  # the token works in this session


def test_link_result_says_the_token_is_not_reachable_from_cron(
    fake_dropbox: Any, session_only_keyring: Any
) -> None:
    result = link_result(fake_dropbox)
    assert result.token_reachable_from_cron is False
    assert "no usable keyring backend" in result.cron.detail


def test_link_into_a_keyring_cron_can_open_gives_no_warning(
    fake_dropbox: Any, cron_keyring: Path
) -> None:
    result = link_in_process(fake_dropbox)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    assert "cron can read it: read back in an environment like cron's" in result.stderr
    assert "HomeFileKeyring" in result.stderr
    (conn,) = run_json("connections")["connections"]
    stored = json.loads(cron_keyring.read_text())  # the one keyring both processes opened
    assert stored[f"{SERVICE_NAME}/{conn['id']}"] in fake_dropbox._refresh_tokens
    assert link_result(fake_dropbox).token_reachable_from_cron is True  # a relink checks too


def test_link_warns_when_cron_opens_another_keyring_without_the_token(
    fake_dropbox: Any, memory_keyring: Any
) -> None:
    # cron's HOME selects a keyring it can open, but the token went to the session's one
    select_cron_keyring("tests.keyring_backends.HomeFileKeyring")
    result = link_in_process(fake_dropbox)
    assert result.exit_code == 0, result.stderr
    assert CRON_WARNING in result.stderr
    assert "the keyring (" in result.stderr and "has no token for it" in result.stderr


def test_link_warns_when_cron_finds_the_keyring_locked(
    fake_dropbox: Any, memory_keyring: Any
) -> None:
    select_cron_keyring("tests.keyring_backends.LockedKeyring")
    result = link_in_process(fake_dropbox)
    assert result.exit_code == 0, result.stderr
    assert CRON_WARNING in result.stderr
    assert "Failed to unlock the collection" in result.stderr


def test_link_into_the_file_store_checks_the_file_not_a_keyring(
    fake_dropbox: Any, memory_keyring: Any, popen_calls: list[dict[str, Any]]
) -> None:
    run("config", "set", "token_store", "file")
    result = link_in_process(fake_dropbox)
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr
    assert "cron can read it: the token file " in result.stderr
    assert popen_calls == []
    assert link_result(fake_dropbox).token_reachable_from_cron is True


@pytest.mark.keyring_real
def test_link_over_ssh_into_the_session_secret_service_warns_that_cron_cannot_read_it(
    fake_dropbox: Any, dropbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trap as a user meets it: gnome-keyring on this session's D-Bus, cron has none."""
    require_real_keyring()
    env = {k: v for k, v in dropbox_env.items() if k != "FERMENTRACK_BACKUP_TOKEN_STORE"}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    assert env.get("DBUS_SESSION_BUS_ADDRESS")
    url = cli("link", "dropbox", "--print-url", env=env).stdout.strip()
    linked = cli("link", "dropbox", "--code", code_shown(fake_dropbox, url), env=env)
    (conn,) = json.loads(cli("connections", "--json", env=env).stdout)["connections"]
    store = real_keyring_store(monkeypatch)
    try:
        assert linked.returncode == 0, linked.stderr
        assert "refresh token stored in keyring (SecretService Keyring)" in linked.stderr
        assert (
            "warning: cron and systemd will not be able to read the token from keyring "
            "(SecretService Keyring)" in linked.stderr
        )
        assert "config set token_store file" in linked.stderr
        token = store.get(conn["id"])
        assert token in fake_dropbox._refresh_tokens  # stored, and works in this session
        doctor = cli("doctor", env=env)
        assert doctor.returncode == ExitCode.UNHEALTHY, doctor.stdout
        assert (
            "ok: connection Fake Brewer (brewer@example.com): the Dropbox token refreshes"
            in doctor.stdout
        )
        assert (
            "FIX: cron token Fake Brewer (brewer@example.com): cron cannot read it from "
            "keyring (SecretService Keyring)" in doctor.stdout
        )
        for text in (linked.stdout, linked.stderr, doctor.stdout, doctor.stderr):
            assert token not in text
    finally:
        store.delete(conn["id"])


def require_real_keyring() -> None:
    if os.environ.get("FERMENTRACK_REAL_KEYRING") != "1":
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must run the keyring_real tests with FERMENTRACK_REAL_KEYRING=1")
        pytest.skip("set FERMENTRACK_REAL_KEYRING=1 with a real Secret Service to run")


def real_keyring_store(monkeypatch: pytest.MonkeyPatch) -> KeyringStore:
    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # detect the Secret Service
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    return KeyringStore(timeout=30)


# --- doctor --------------------------------------------------------------------------------


def test_doctor_reports_fix_when_cron_cannot_read_a_keyring_token(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], session_only_keyring: Any
) -> None:
    make_dropbox_conn("brewery", store="keyring")
    result = run("doctor")
    assert result.exit_code == ExitCode.UNHEALTHY
    lines = result.stdout.splitlines()
    assert "ok: connection brewery: the Dropbox token refreshes" in lines
    (fix,) = [i for i, line in enumerate(lines) if line.startswith("FIX: cron token brewery: ")]
    assert "cron cannot read it from keyring (" in lines[fix]
    assert "no usable keyring backend" in lines[fix]
    assert "config set token_store file" in lines[fix + 1]
    checks = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["cron token brewery"]["ok"] is False
    assert "keyringrc.cfg" in checks["cron token brewery"]["fix"]


def test_doctor_says_ok_when_cron_can_read_the_token(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], cron_keyring: Path
) -> None:
    make_dropbox_conn("brewery", store="keyring")
    result = run("doctor")
    assert result.exit_code == 0, result.stdout
    checks = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["cron token brewery"]["ok"] is True
    assert "HomeFileKeyring" in checks["cron token brewery"]["detail"]


def test_doctor_finds_a_token_file_others_can_read(
    fake_dropbox: Any, make_dropbox_conn: Callable[..., Any], home: Path
) -> None:
    run("config", "set", "token_store", "file")
    make_dropbox_conn("brewery", store="file")
    assert run("doctor").exit_code == 0
    (home / "data" / "tokens.json").chmod(0o644)
    checks = {c["check"]: c for c in json.loads(run("doctor", "--json").stdout)["checks"]}
    assert checks["cron token brewery"]["ok"] is False
    assert "chmod 600" in checks["cron token brewery"]["fix"]


# --- token_store changed -------------------------------------------------------------------


@pytest.mark.parametrize(("linked", "now"), [("keyring", "file"), ("file", "keyring")])
def test_connections_linked_under_the_other_token_store_say_link_again_until_relinked(
    fake_dropbox: Any,
    make_dropbox_conn: Callable[..., Any],
    sample: Path,
    cron_keyring: Path,
    linked: str,
    now: str,
) -> None:
    run("config", "set", "token_store", linked)
    conn = make_dropbox_conn("brewery", store=linked)
    run("config", "set", "token_store", now)

    listing = run("connections")
    assert listing.exit_code == 0
    assert "link again" in listing.stdout
    assert (
        f"warning: connection brewery: its token is in the {linked} store but token_store "
        f"is {now}: link again" in listing.stderr
    )
    assert "hint: `fermentrack-backup link dropbox` moves it" in listing.stderr
    assert run_json("connections")["connections"][0]["token_store_changed"] is True

    status = run("status", "--offline", "--json")
    assert status.exit_code == ExitCode.UNHEALTHY
    (problem,) = json.loads(status.stdout)["connections"][0]["problems"]
    assert "link again" in problem and "fermentrack-backup link dropbox" in problem
    (online,) = run_json("status")["connections"]
    assert any("link again" in p for p in online["problems"])

    doctor = run("doctor")
    assert doctor.exit_code == ExitCode.UNHEALTHY
    assert "FIX: cron token brewery: its token is in the " in doctor.stdout
    assert "fix: `fermentrack-backup link dropbox`" in doctor.stdout

    # not broken meanwhile: the token is still read from where it was written
    assert run("upload", str(sample), "--to", conn.id).exit_code == 0

    assert link_in_process(fake_dropbox).exit_code == 0
    (after,) = run_json("connections")["connections"]
    assert (after["id"], after["token_store"], after["token_store_changed"]) == (
        conn.id,
        now,
        False,
    )
    assert "link again" not in run("connections").stderr
    assert run("status", "--offline").exit_code == 0
    assert run("doctor").exit_code == 0


def test_local_connections_have_no_token_to_link_again(tmp_path: Path) -> None:
    folder = tmp_path / "usb"
    folder.mkdir()
    run("link", "local", str(folder), "--label", "usb")
    run("config", "set", "token_store", "file")
    assert run_json("connections")["connections"][0]["token_store_changed"] is False
    assert run("status", "--offline").exit_code == 0
    assert "cron token" not in run("doctor").stdout


# --- the probe itself ----------------------------------------------------------------------


def test_the_probe_sees_only_home_user_path_and_lang_and_never_the_token(
    cron_keyring: Path, popen_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyringStore(timeout=30)
    token = secrets.token_urlsafe(40)
    store.set("conn-1", token)  # into the keyring $HOME's keyringrc.cfg selects
    # What this session has and cron has not; had the probe inherited the backend
    # variable, it would open an empty memory keyring and find nothing.
    for name, value in {
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent",
        "XDG_RUNTIME_DIR": "/nonexistent",
        "PYTHON_KEYRING_BACKEND": "tests.keyring_backends.MemoryKeyring",
        "FERMENTRACK_BACKUP_TOKEN_STORE": "file",
        "LANG": "C.UTF-8",
    }.items():
        monkeypatch.setenv(name, value)
    found = reachability.keyring_reachable(store, "conn-1", token)
    assert found.reachable is True, found.detail
    (call,) = popen_calls
    assert set(call["env"]) <= {"HOME", "USER", "PATH", "LANG"}
    assert call["env"]["HOME"] == str(Path.home())
    assert call["env"]["LANG"] == "C.UTF-8"
    assert call["argv"][:4] == [sys.executable, "-B", "-m", reachability.PROBE_MODULE]
    assert not any(token in arg for arg in call["argv"])


def test_the_probe_tells_another_token_from_the_stored_one(cron_keyring: Path) -> None:
    store = KeyringStore(timeout=30)
    store.set("conn-1", "the-stored-token")
    other = reachability.keyring_reachable(store, "conn-1", "another-token")
    assert other.reachable is False
    assert "holds another token" in other.detail
    missing = reachability.keyring_reachable(store, "conn-2", "the-stored-token")
    assert (missing.reachable, "has no token for it" in missing.detail) == (False, True)


def test_the_probe_prints_a_salted_digest_only_and_loads_no_dropbox(cron_keyring: Path) -> None:
    token = secrets.token_urlsafe(40)
    KeyringStore(timeout=30).set("conn-1", token)
    code = (
        "import sys\n"
        "from fermentrack_backup_cli.auth import reachability\n"
        "reachability.main(['--timeout', '30', '--salt', 'abc', '--', 'conn-1'])\n"
        "assert 'dropbox' not in sys.modules, 'the probe imported dropbox'\n"
    )
    env = reachability.cron_env()
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["digest"] == reachability.digest("abc", token)
    assert token not in done.stdout + done.stderr


def test_a_keyring_that_hangs_for_cron_is_reported_within_the_timeout() -> None:
    select_cron_keyring("tests.keyring_backends.HangingKeyring")
    store = KeyringStore(timeout=1)
    box: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: box.update(found=reachability.keyring_reachable(store, "c", "a-token-" * 4))
    )
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    assert box["found"].reachable is False
    assert "did not answer within 1 s" in box["found"].detail


def test_a_probe_that_never_ends_is_killed_with_its_children_at_the_limit() -> None:
    # the grandchild keeps the pipes open: reading them after the kill would wait forever
    argv = ["sh", "-c", "sleep 300 & exec sleep 300"]
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            reachability._run(argv, reachability.cron_env(), "/", 1)
        except subprocess.TimeoutExpired:
            box["timed_out"] = True

    worker = threading.Thread(target=call)
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    assert box == {"timed_out": True}


def test_a_probe_that_cannot_start_says_it_could_not_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reachability, "PROBE_MODULE", "no_such_module_for_the_probe")
    found = reachability.keyring_reachable(KeyringStore(timeout=5), "c", "a-token-" * 4)
    assert found.reachable is None
    assert "could not run" in found.detail and "No module named" in found.detail


def test_the_file_store_is_reachable_when_0600_and_holding_the_token(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "tokens.json")
    assert reachability.file_reachable(store, "c", "t").reachable is False  # no file yet
    store.set("c", "t")
    assert reachability.file_reachable(store, "c", "t").reachable is True
    assert reachability.file_reachable(store, "c", "other").reachable is False
    (tmp_path / "tokens.json").chmod(0o640)
    refused = reachability.file_reachable(store, "c", "t")
    assert refused.reachable is False and "chmod 600" in refused.hint


# --- secrets -------------------------------------------------------------------------------


@pytest.fixture
def keyring_env(dropbox_env: dict[str, str], cron_keyring: Path) -> Iterator[dict[str, str]]:
    """CLI subprocesses with their tokens in the cron-reachable test keyring."""
    env = {k: v for k, v in dropbox_env.items() if k != "FERMENTRACK_BACKUP_TOKEN_STORE"}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    yield env


def test_no_token_leaks_from_the_reachability_checks(
    fake_dropbox: Any, keyring_env: dict[str, str], home: Path, cron_keyring: Path
) -> None:
    runs: list[subprocess.CompletedProcess[str]] = []
    url = cli("link", "dropbox", "--print-url", env=keyring_env).stdout.strip()
    runs.append(cli("link", "dropbox", "--code", code_shown(fake_dropbox, url), env=keyring_env))
    assert runs[-1].returncode == 0, runs[-1].stderr
    assert "cron can read it" in runs[-1].stderr
    runs.append(cli("doctor", env=keyring_env))
    runs.append(cli("config", "set", "token_store", "file", env=keyring_env))
    for args in (("connections",), ("status", "--json"), ("doctor",)):
        runs.append(cli(*args, env=keyring_env))
    assert "link again" in runs[-1].stdout
    tokens = set(fake_dropbox._refresh_tokens) | set(fake_dropbox._access_tokens)
    assert tokens
    stored = set(json.loads(cron_keyring.read_text()).values())
    assert stored and stored <= tokens  # the keyring holds them by design; nothing else may
    outputs = [r.stdout + r.stderr for r in runs]
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("history") for p in files)
    leaks = [t[:6] for t in tokens for text in outputs if t in text]
    leaks += [f"{p}:{t[:6]}" for p in files for t in tokens if t.encode() in p.read_bytes()]
    assert leaks == []
