"""--notify-url: Healthchecks pings (start, success, /<exit status> with the output's
tail as the body) or one ntfy message; never fatal. Against a real HTTP server on
127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.errors import ExitCode
from fermentrack_backup_cli.notify import BODY_LIMIT, Notifier, tail, with_suffix
from tests.cli_helpers import run
from tests.samples import make_backup


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: str


class _Recorder(http.server.BaseHTTPRequestHandler):
    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        hit = Hit(self.command, self.path, dict(self.headers.items()), body)
        self.server.hits.append(hit)  # type: ignore[attr-defined]
        status = self.server.status  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = _record
    do_POST = _record

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Server:
    url: str
    hits: list[Hit]
    http: http.server.ThreadingHTTPServer

    @property
    def paths(self) -> list[str]:
        return [f"{h.method} {h.path}" for h in self.hits]

    @property
    def last(self) -> Hit:
        return self.hits[-1]


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.hits = []  # type: ignore[attr-defined]
    httpd.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    yield Server(f"http://127.0.0.1:{port}/ping/abc", httpd.hits, httpd)  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def upload(tmp_path: Path) -> Callable[..., Any]:
    def go(*paths: Path, extra: tuple[str, ...] = ()) -> Any:
        dest = f"local:{tmp_path / 'out'}"
        return run("upload", *map(str, paths), "--to", dest, "--mkdir", *extra)

    return go


def test_suffixes_go_on_the_path_before_the_query() -> None:
    assert with_suffix("https://hc.io/p/u?x=1", "start") == "https://hc.io/p/u/start?x=1"
    assert with_suffix("https://hc.io/p/u/", "fail") == "https://hc.io/p/u/fail"
    assert with_suffix("https://hc.io/p/u", "") == "https://hc.io/p/u"


def test_a_successful_run_pings_start_then_posts_its_output_to_the_plain_url(
    server: Server, upload: Callable[..., Any], tmp_path: Path
) -> None:
    archive = make_backup(tmp_path / "backups")
    result = upload(archive, extra=("--notify-url", server.url))
    assert result.exit_code == 0, result.output
    assert server.paths == ["GET /ping/abc/start", "POST /ping/abc"]
    body = server.last.body
    assert f"completed: {archive.name} ->" in body  # the run's own summary line
    assert body.endswith("upload: 1 completed, 0 skipped, 0 failed; exit 0\n")
    assert server.last.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_a_failed_run_pings_its_exit_status_with_the_failure_and_its_hint(
    server: Server, upload: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "a.tar.xz").write_bytes(b"not an archive")
    result = upload(tmp_path / "a.tar.xz", extra=("--notify-url", server.url))
    assert result.exit_code == ExitCode.VERIFY
    assert server.paths == ["GET /ping/abc/start", f"POST /ping/abc/{ExitCode.VERIFY}"]
    body = server.last.body
    assert "a.tar.xz" in body
    assert "hint: " in body
    assert body.endswith("upload: 0 completed, 0 skipped, 1 failed; exit 5\n")


def test_a_run_stopped_by_an_error_pings_that_errors_exit_status_and_message(
    server: Server, tmp_path: Path
) -> None:
    archive = make_backup(tmp_path / "backups")
    result = run("upload", str(archive), "--to", "nope", "--notify-url", server.url)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert server.paths == ["GET /ping/abc/start", f"POST /ping/abc/{ExitCode.NOT_FOUND}"]
    assert "error: no connection matches 'nope'" in server.last.body
    assert "hint: " in server.last.body


def test_a_quiet_run_still_reports_what_it_did(
    server: Server, upload: Callable[..., Any], tmp_path: Path
) -> None:
    archive = make_backup(tmp_path / "backups")
    result = upload(archive, extra=("--notify-url", server.url, "--quiet"))
    assert (result.exit_code, result.output) == (0, "")
    assert server.last.body == "upload: 1 completed, 0 skipped, 0 failed; exit 0\n"


def test_the_body_is_the_last_lines_of_the_output_within_10_kib(
    server: Server, upload: Callable[..., Any], tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(90):
        (folder / f"{i:03d}-{'x' * 100}.tar.xz").write_bytes(b"data %d" % i)
    result = upload(folder, extra=("--notify-url", server.url, "--no-check"))
    assert result.exit_code == 0, result.output
    body = server.last.body
    assert len(body.encode()) <= 10 * 1024
    assert len(result.stdout.encode()) > 10 * 1024  # so the body really is a tail
    assert body.endswith("upload: 90 completed, 0 skipped, 0 failed; exit 0\n")
    assert f"{89:03d}-" in body and f"{0:03d}-" not in body  # the newest lines, not the first
    assert all(line in result.stdout for line in body.splitlines()[:-1])  # whole lines


def test_the_body_of_a_dropbox_run_holds_no_secret(
    server: Server,
    fake_dropbox: Any,
    make_dropbox_conn: Callable[..., Any],
    tmp_path: Path,
) -> None:
    make_dropbox_conn()
    archive = make_backup(tmp_path / "backups")
    fake_dropbox.inject("files/upload", "expired_token", times=1)  # a token refresh mid-run
    result = run("upload", str(archive), "--to", "dropbox", "--notify-url", server.url)
    assert result.exit_code == 0, result.output
    secrets = {fake_dropbox.app_secret}
    secrets |= set(fake_dropbox._refresh_tokens) | set(fake_dropbox._access_tokens)
    assert len(secrets) >= 3
    sent = "".join(h.path + h.body + str(h.headers) for h in server.hits)
    assert "completed:" in sent
    for secret in secrets:
        assert secret not in sent


def test_ntfy_style_posts_one_message_with_a_title_priority_and_tags(
    server: Server, upload: Callable[..., Any], tmp_path: Path
) -> None:
    archive = make_backup(tmp_path / "backups")
    ok = upload(archive, extra=("--notify-url", server.url, "--notify-style", "ntfy"))
    assert ok.exit_code == 0, ok.output
    assert server.paths == ["POST /ping/abc"]  # no start message
    hit = server.last
    assert hit.headers["Title"] == "fermentrack-backup upload succeeded"
    assert (hit.headers["Priority"], hit.headers["Tags"]) == ("default", "white_check_mark")
    assert hit.body.endswith("upload: 1 completed, 0 skipped, 0 failed; exit 0\n")

    (tmp_path / "bad.tar.xz").write_bytes(b"not an archive")
    bad = upload(tmp_path / "bad.tar.xz", extra=("--notify-url", server.url))
    assert bad.exit_code == ExitCode.VERIFY
    assert server.paths[-2:] == ["GET /ping/abc/start", "POST /ping/abc/5"]  # style per run

    run("config", "set", "notify.style", "ntfy")
    again = upload(tmp_path / "bad.tar.xz", extra=("--notify-url", server.url))
    assert again.exit_code == ExitCode.VERIFY
    assert server.paths[-1] == "POST /ping/abc"
    assert server.last.headers["Title"] == "fermentrack-backup upload failed (exit 5)"
    assert (server.last.headers["Priority"], server.last.headers["Tags"]) == ("high", "warning")
    assert "bad.tar.xz" in server.last.body


def test_ntfy_bodies_stay_within_its_4_kib_message_limit() -> None:
    lines = [f"line {i} " + "y" * 60 for i in range(200)]
    assert len(tail(lines, BODY_LIMIT["ntfy"]).encode()) <= 4 * 1024
    assert tail(lines, BODY_LIMIT["ntfy"]).endswith(f"{lines[-1]}\n")


def test_a_tail_never_cuts_a_character_in_half() -> None:
    text = tail(["é" * 100], 51)
    assert text == "é" * 25 + "\n"
    assert tail(["a", "b", "c"], 4) == "b\nc\n"
    assert tail([], 10) == ""


def test_an_unknown_notify_style_is_a_usage_error_with_the_choices(
    server: Server, upload: Callable[..., Any], tmp_path: Path
) -> None:
    result = upload(tmp_path, extra=("--notify-url", server.url, "--notify-style", "slack"))
    assert result.exit_code == ExitCode.USAGE
    assert "healthchecks, ntfy" in result.stderr
    assert server.hits == []


def test_a_notification_the_server_refuses_never_fails_the_upload(
    server: Server, upload: Callable[..., Any], tmp_path: Path
) -> None:
    server.http.status = 500  # type: ignore[attr-defined]
    archive = make_backup(tmp_path / "backups")
    result = upload(archive, extra=("--notify-url", server.url))
    assert result.exit_code == 0, result.output
    assert "warning: could not send the start notification" in result.stderr
    assert "warning: could not send the success notification" in result.stderr


def test_an_unreachable_notify_url_never_fails_the_upload(tmp_path: Path) -> None:
    (tmp_path / "a.tar.xz").write_bytes(b"x")
    result = run(
        "upload", str(tmp_path / "a.tar.xz"), "--to", f"local:{tmp_path / 'out'}", "--mkdir",
        "--no-check", "--notify-url", "http://127.0.0.1:9/ping",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "could not send the start notification" in result.output
    assert (tmp_path / "out" / "Fermentrack Backups" / "a.tar.xz").exists()


def test_a_ping_that_gets_no_answer_gives_up_after_its_timeout() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never answers
    notifier = Notifier(f"http://127.0.0.1:{listener.getsockname()[1]}/x", timeout=0.3)
    assert notifier.finish(0, ["done"], "t") is False  # (the test's timeout proves it ends)
    assert notifier.problems
    listener.close()
