"""Issue 8, item 7: the callback listener listens on 127.0.0.1 and ::1 (the redirect URI
says `localhost`, which may resolve to either), so nothing on [::1]:PORT can take the
callback; a busy address fails before any browser opens; no IPv6 means 127.0.0.1 alone."""

from __future__ import annotations

import errno
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.auth import listener as listener_module
from fermentrack_backup_cli.auth.listener import CallbackListener
from fermentrack_backup_cli.auth.session import new_pending
from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import run


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host")


def free_port_on_both() -> int:
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind(("127.0.0.1", 0))
            port = int(v4.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as v6:
                    v6.bind(("::1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no port free on both loopback addresses")


@pytest.fixture
def held_v6_port() -> Iterator[int]:
    """Another program listening on [::1]:PORT (and nothing on 127.0.0.1:PORT)."""
    port = free_port_on_both()
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as thief:
        thief.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        thief.bind(("::1", port))
        thief.listen()
        yield port


def fetch(host: str, port: int, target: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{target}", timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@needs_ipv6
def test_a_program_on_ipv6_loopback_makes_the_port_busy(held_v6_port: int) -> None:
    with pytest.raises(errors.UsageError) as info:
        CallbackListener(held_v6_port)
    assert info.value.code == "port_busy"
    assert f"[::1]:{held_v6_port}" in info.value.message
    # and 127.0.0.1 was let go again: nothing half-bound stays behind
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
        v4.bind(("127.0.0.1", held_v6_port))


@needs_ipv6
def test_link_fails_with_port_busy_before_any_browser_opens_when_ipv6_is_taken(
    fake_dropbox: Any, held_v6_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(
        "fermentrack_backup_cli.cli.link._open_browser", lambda url: opened.append(url)
    )
    result = run("link", "dropbox", "--browser", "--port", str(held_v6_port), "--timeout", "5")
    assert result.exit_code == ExitCode.USAGE
    assert f"port {held_v6_port} is busy" in result.stderr
    assert f"[::1]:{held_v6_port}" in result.stderr
    assert opened == []


@needs_ipv6
@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_the_callback_is_received_on_either_loopback_address(host: str) -> None:
    pending = new_pending("http://localhost:0/")
    port = free_port_on_both()
    answers: list[int] = []
    with CallbackListener(port) as listener:
        assert listener.addresses == [f"127.0.0.1:{port}", f"[::1]:{port}"]
        browser = threading.Thread(
            target=lambda: answers.append(
                fetch(host, port, f"/?code=the-code&state={pending.state}")
            ),
            daemon=True,
        )
        browser.start()
        code = listener.wait(pending, timeout=20)
        browser.join(10)
    assert code == "the-code"
    assert answers == [200]


@needs_ipv6
def test_an_ephemeral_port_is_bound_on_both_addresses() -> None:
    with CallbackListener(0) as listener:
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            with socket.socket(family, socket.SOCK_STREAM) as other:
                with pytest.raises(OSError) as info:
                    other.bind((host, listener.port))
                assert info.value.errno == errno.EADDRINUSE


def test_without_ipv6_the_listener_uses_127_0_0_1_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoIPv6(listener_module._Server6):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")

    monkeypatch.setattr(listener_module, "_Server6", NoIPv6)
    pending = new_pending("http://localhost:0/")
    with CallbackListener(0) as listener:
        assert listener.addresses == [f"127.0.0.1:{listener.port}"]
        port = listener.port
        browser = threading.Thread(
            target=fetch, args=("127.0.0.1", port, f"/?code=c4&state={pending.state}"), daemon=True
        )
        browser.start()
        assert listener.wait(pending, timeout=20) == "c4"
        browser.join(10)
