"""The loopback callback listener, with a test thread playing the browser."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.auth.listener import CallbackListener, redirect_uri_for
from fermentrack_backup_cli.auth.session import PendingAuth, new_pending


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fetch(port: int, target: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{target}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@contextlib.contextmanager
def browser(script: Callable[[], None]) -> Iterator[list[BaseException]]:
    """Run `script` in a thread while the test waits; re-raise its failures."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            script()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield failures
    thread.join(timeout=20)
    assert not thread.is_alive()
    if failures:
        raise failures[0]


@pytest.fixture
def pending() -> PendingAuth:
    return new_pending("http://localhost:0/")


def test_redirect_uri_is_localhost_with_a_trailing_slash() -> None:
    assert redirect_uri_for(53682) == "http://localhost:53682/"


def test_junk_requests_do_not_end_the_wait_and_the_right_callback_returns_the_code(
    pending: PendingAuth, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    answers: list[tuple[int, str]] = []

    def play() -> None:
        answers.append(fetch(port, "/favicon.ico"))
        answers.append(fetch(port, "/other?code=x&state=" + pending.state))
        answers.append(fetch(port, "/"))
        answers.append(fetch(port, "/?code=only-a-code"))
        answers.append(fetch(port, "/?state=" + pending.state))
        answers.append(fetch(port, "/?code=c&state=" + pending.state, method="POST"))
        answers.append(fetch(port, "/?code=c&state=" + pending.state, method="HEAD"))
        answers.append(fetch(port, "/?code=stolen&state=wrong-state"))
        answers.append(fetch(port, "/?code=the-code&state=" + pending.state))

    with CallbackListener(port) as listener, browser(play):
        code = listener.wait(pending, timeout=20)
    assert code == "the-code"
    statuses = [status for status, _ in answers]
    assert statuses == [404, 404, 400, 400, 400, 405, 405, 400, 200]
    assert "state mismatch" in answers[7][1].lower()
    assert "You can close this tab" in answers[-1][1]
    logged = caplog.text + "".join(capfd.readouterr())
    assert "the-code" not in logged and pending.state not in logged and "stolen" not in logged


def test_access_denied_with_the_right_state_ends_the_wait(pending: PendingAuth) -> None:
    port = free_port()
    answers: list[tuple[int, str]] = []

    def play() -> None:
        answers.append(
            fetch(
                port,
                "/?error=access_denied&error_description=The+user+chose+not+to+give+access"
                "&state=" + pending.state,
            )
        )

    again = "`fermentrack-backup link dropbox`"
    with (
        CallbackListener(port, provider="Dropbox", again=again) as listener,
        browser(play),
        pytest.raises(errors.AccessDenied) as info,
    ):
        listener.wait(pending, timeout=20)
    assert info.value.message == "Dropbox authorization was cancelled"
    assert info.value.hint == f"run {again} again and click Allow"
    assert answers[0][0] == 400


def test_another_error_becomes_an_auth_error_with_only_its_name(pending: PendingAuth) -> None:
    port = free_port()

    def play() -> None:
        fetch(
            port, "/?error=server_error%3Cb%3E&error_description=long+text&state=" + pending.state
        )

    with (
        CallbackListener(port) as listener,
        browser(play),
        pytest.raises(errors.AuthError) as info,
    ):
        listener.wait(pending, timeout=20)
    assert not isinstance(info.value, errors.AccessDenied)
    assert "server_errorb" in info.value.message
    assert "long text" not in info.value.message and "<" not in info.value.message


def test_timeout_without_callbacks_raises_a_timeout_error(pending: PendingAuth) -> None:
    with (
        CallbackListener(free_port()) as listener,
        pytest.raises(errors.AuthError) as info,
    ):
        listener.wait(pending, timeout=1)
    assert info.value.code == "timeout"
    assert info.value.message == "timed out after 1 s waiting for the browser"
    assert "--timeout" in (info.value.hint or "")


def test_timeout_after_a_wrong_state_raises_invalid_state(pending: PendingAuth) -> None:
    port = free_port()

    def play() -> None:
        fetch(port, "/?code=c&state=not-this-attempt")

    with (
        CallbackListener(port) as listener,
        browser(play),
        pytest.raises(errors.InvalidState) as info,
    ):
        listener.wait(pending, timeout=1)
    assert "not-this-attempt" not in str(info.value.to_dict())


def test_an_expired_attempt_is_refused_even_with_the_right_state() -> None:
    stale = new_pending(None, now=time.time() - 3600)
    port = free_port()

    def play() -> None:
        fetch(port, "/?code=c&state=" + stale.state)

    with (
        CallbackListener(port) as listener,
        browser(play),
        pytest.raises(errors.InvalidState),
    ):
        listener.wait(stale, timeout=20)


def test_a_busy_port_is_reported_before_any_browser_opens() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(errors.UsageError) as info:
            CallbackListener(port)
    assert info.value.code == "port_busy"
    assert f"port {port} is busy" in info.value.message
    assert "--port N" in (info.value.hint or "")
    assert "http://localhost:N/" in (info.value.hint or "")


def test_a_silent_client_does_not_block_the_real_callback(pending: PendingAuth) -> None:
    port = free_port()
    silent: socket.socket | None = None

    def play() -> None:
        nonlocal silent
        silent = socket.create_connection(("127.0.0.1", port))
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"GET /?code=x")  # an unfinished request line, then nothing
        assert fetch(port, "/?code=real-code&state=" + pending.state)[0] == 200
        half.close()

    with CallbackListener(port) as listener, browser(play):
        assert listener.wait(pending, timeout=20) == "real-code"
    assert silent is not None
    silent.close()


def test_requests_sent_before_wait_are_served_by_wait(pending: PendingAuth) -> None:
    port = free_port()
    with CallbackListener(port) as listener:
        result: list[tuple[int, str]] = []
        thread = threading.Thread(
            target=lambda: result.append(fetch(port, "/?code=early&state=" + pending.state))
        )
        thread.start()
        time.sleep(0.2)
        assert listener.wait(pending, timeout=20) == "early"
        thread.join(timeout=10)
    assert result[0][0] == 200


def test_the_port_is_released_on_exit_and_can_be_bound_again(pending: PendingAuth) -> None:
    port = free_port()
    with (
        CallbackListener(port) as listener,
        browser(lambda: fetch(port, "/?code=c&state=" + pending.state)),
    ):
        listener.wait(pending, timeout=20)
    with CallbackListener(port) as again:
        assert again.port == port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_repr_and_redirect_uri_hold_no_secret(pending: PendingAuth) -> None:
    with CallbackListener(0) as listener:
        assert listener.port > 0
        assert listener.redirect_uri == f"http://localhost:{listener.port}/"
        assert pending.state not in repr(listener)
