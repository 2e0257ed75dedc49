"""`link dropbox` in browser mode: the loopback listener, its failures, the token store."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import cli, run, run_json
from tests.link_support import browser_env, free_port, landed_address


@pytest.fixture
def port() -> int:
    return free_port()


class FakeBrowser:
    """Stands in for webbrowser: each URL opened goes to the next queued behaviour."""

    def __init__(self) -> None:
        self.queue: list[Callable[[str], None]] = []
        self.opened: list[str] = []
        self.threads: list[threading.Thread] = []

    def append(self, behaviour: Callable[[str], None]) -> None:
        self.queue.append(behaviour)

    def open(self, url: str) -> bool:
        self.opened.append(url)
        if self.queue:
            thread = threading.Thread(target=self.queue.pop(0), args=(url,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return True


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBrowser]:
    fake = FakeBrowser()
    monkeypatch.setattr("fermentrack_backup_cli.cli.link._open_browser", fake.open)
    yield fake
    for thread in fake.threads:
        thread.join(10)


def follower(fake: Any, *junk_first: tuple[str, str]) -> Callable[[str], None]:
    """A browser that first sends junk (path, query) to the listener, then follows Allow."""

    def follow(url: str) -> None:
        location = landed_address(fake, url)
        base = location.split("?", 1)[0].rstrip("/")
        for path, query in junk_first:
            requests.get(f"{base}{path}?{query}", timeout=5)
        requests.get(location, timeout=5)

    return follow


def test_browser_mode_links_end_to_end_through_a_browser_script(
    fake_dropbox: Any, dropbox_env: dict[str, str], home: Path, port: int
) -> None:
    result = cli(
        "link", "dropbox", "--port", str(port), "--timeout", "20", env=browser_env(dropbox_env)
    )
    assert result.returncode == 0, result.stderr
    assert f"http://localhost:{port}/" in result.stderr
    assert "linked Dropbox account Fake Brewer <brewer@example.com>" in result.stdout
    conns = json.loads(cli("connections", "--json", env=dropbox_env).stdout)["connections"]
    assert [c["label"] for c in conns] == ["Fake Brewer (brewer@example.com)"]
    assert conns[0]["account_id"] == fake_dropbox.account_id
    token_file = home / "data" / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert conns[0]["id"] in json.loads(token_file.read_text())
    (exchange,) = [r for r in fake_dropbox.requests_to("oauth2/token") if "code" in r.args]
    assert exchange.args["client_secret"] == fake_dropbox.app_secret  # confidential client
    assert exchange.args["code_verifier"]  # and PKCE every time


def test_linking_the_same_account_again_refreshes_its_token_instead_of_a_duplicate(
    fake_dropbox: Any, browser: FakeBrowser, port: int, memory_keyring: Any
) -> None:
    browser.append(follower(fake_dropbox))
    first = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "10")
    assert first.exit_code == 0, first.stderr
    (conn,) = run_json("connections")["connections"]
    old_token = memory_keyring.get_password("fermentrack-backup", conn["id"])
    browser.append(follower(fake_dropbox))
    again = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "10")
    assert again.exit_code == 0, again.stderr
    assert "refreshed its token instead of adding a duplicate" in again.stdout
    assert [c["id"] for c in run_json("connections")["connections"]] == [conn["id"]]
    assert memory_keyring.get_password("fermentrack-backup", conn["id"]) != old_token


def test_a_public_client_without_secret_links_with_pkce_alone(
    fake_dropbox: Any, browser: FakeBrowser, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DROPBOX_APP_SECRET")
    browser.append(follower(fake_dropbox))
    result = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "10")
    assert result.exit_code == 0, result.stderr
    (exchange,) = [r for r in fake_dropbox.requests_to("oauth2/token") if "code" in r.args]
    assert "client_secret" not in exchange.args
    assert run("status").exit_code == 0  # refreshing needs only the app key


def test_junk_requests_to_the_listener_do_not_end_the_wait(
    fake_dropbox: Any, browser: FakeBrowser, port: int
) -> None:
    junk = [("/favicon.ico", ""), ("/wp-login.php", "x=1"), ("/", "state=forged&code=abc")]
    browser.append(follower(fake_dropbox, *junk))
    result = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "10")
    assert result.exit_code == 0, result.stderr
    assert len(run_json("connections")["connections"]) == 1


def test_only_a_callback_with_another_state_gives_invalid_state(
    fake_dropbox: Any, browser: FakeBrowser, port: int
) -> None:
    def forged(url: str) -> None:
        requests.get(f"http://127.0.0.1:{port}/?state=forged&code=stolen", timeout=5)

    browser.append(forged)
    result = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "1.5")
    assert result.exit_code == ExitCode.AUTH
    assert "Invalid state parameter" in result.stderr
    assert run_json("connections")["connections"] == []


def test_pressing_cancel_at_dropbox_stops_with_access_denied(
    fake_dropbox: Any, browser: FakeBrowser, port: int
) -> None:
    fake_dropbox.deny_authorization = True
    browser.append(follower(fake_dropbox))
    result = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "10")
    assert result.exit_code == ExitCode.AUTH
    assert "cancelled" in result.stderr
    assert "click Allow" in result.stderr


def test_waiting_for_the_browser_times_out_with_a_clear_message(
    fake_dropbox: Any, browser: FakeBrowser, port: int
) -> None:
    result = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "1")
    assert result.exit_code == ExitCode.AUTH
    assert "timed out after 1 s" in result.stderr
    assert f"http://localhost:{port}/" in result.stderr  # the redirect URI to check


def test_a_busy_port_is_a_usage_error_naming_port_before_any_browser_opens(
    fake_dropbox: Any, browser: FakeBrowser, port: int
) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "1")
    assert result.exit_code == ExitCode.USAGE
    assert f"port {port} is busy" in result.stderr
    assert "--port" in result.stderr
    assert browser.opened == []


def test_a_wrong_app_secret_is_reported_as_invalid_client(
    fake_dropbox: Any, browser: FakeBrowser, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DROPBOX_APP_SECRET", "not-the-secret")
    browser.append(follower(fake_dropbox))
    result = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "10")
    assert result.exit_code == ExitCode.AUTH
    assert "invalid_client" in result.stderr
    assert "dropbox.app_secret" in result.stderr
    assert "not-the-secret" not in result.output


def test_no_usable_keyring_stops_before_any_browser_with_the_file_store_hint(
    fake_dropbox: Any, browser: FakeBrowser, port: int
) -> None:
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())  # the autouse fixture restores the previous one
    result = run("link", "dropbox", "--browser", "--port", str(port), "--timeout", "1")
    assert result.exit_code == ExitCode.AUTH
    assert "config set token_store file" in result.stderr
    assert browser.opened == []
    assert fake_dropbox.requests == []


def test_without_an_app_key_link_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("link", "dropbox", "--no-browser")
    assert result.exit_code == ExitCode.USAGE
    assert "DROPBOX_APP_KEY" in result.stderr
