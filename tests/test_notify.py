"""--notify-url: healthchecks-style pings on start, success and failure; never fatal."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.notify import Notifier, with_suffix
from tests.cli_helpers import run


class _Recorder(http.server.BaseHTTPRequestHandler):
    paths: list[str]

    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def pings() -> Iterator[tuple[str, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping/abc", server.paths  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_suffixes_go_on_the_path_before_the_query() -> None:
    assert with_suffix("https://hc.io/p/u?x=1", "start") == "https://hc.io/p/u/start?x=1"
    assert with_suffix("https://hc.io/p/u/", "fail") == "https://hc.io/p/u/fail"
    assert with_suffix("https://hc.io/p/u", "") == "https://hc.io/p/u"


def test_a_successful_run_pings_start_then_success(
    pings: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, paths = pings
    (tmp_path / "a.tar.xz").write_bytes(b"x")
    result = run(
        "upload", str(tmp_path / "a.tar.xz"), "--to", f"local:{tmp_path / 'out'}", "--mkdir",
        "--no-check", "--notify-url", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert paths == ["/ping/abc/start", "/ping/abc"]


def test_a_failed_run_pings_fail(pings: tuple[str, list[str]], tmp_path: Path) -> None:
    url, paths = pings
    (tmp_path / "a.tar.xz").write_bytes(b"not an archive")
    result = run(
        "upload", str(tmp_path / "a.tar.xz"), "--to", f"local:{tmp_path / 'out'}", "--mkdir",
        "--notify-url", url,
    )  # fmt: skip
    assert result.exit_code != 0
    assert paths == ["/ping/abc/start", "/ping/abc/fail"]


def test_a_run_stopped_by_an_error_pings_fail(pings: tuple[str, list[str]], tmp_path: Path) -> None:
    url, paths = pings
    result = run("upload", str(tmp_path), "--to", "nope", "--notify-url", url)
    assert result.exit_code != 0
    assert paths == ["/ping/abc/start", "/ping/abc/fail"]


def test_an_unreachable_ping_url_never_fails_the_upload(tmp_path: Path) -> None:
    (tmp_path / "a.tar.xz").write_bytes(b"x")
    result = run(
        "upload", str(tmp_path / "a.tar.xz"), "--to", f"local:{tmp_path / 'out'}", "--mkdir",
        "--no-check", "--notify-url", "http://127.0.0.1:9/ping",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "could not ping" in result.output
    assert (tmp_path / "out" / "Fermentrack Backups" / "a.tar.xz").exists()


def test_a_ping_that_times_out_returns_false_quickly() -> None:
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never answers
    notifier = Notifier(f"http://127.0.0.1:{listener.getsockname()[1]}/x", timeout=0.3)
    started = time.monotonic()
    assert notifier.ping("start") is False
    assert time.monotonic() - started < 5
    assert notifier.problems
    listener.close()
