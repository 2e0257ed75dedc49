"""The one-shot loopback listener that receives the OAuth redirect.

The redirect URI says `localhost`, which a browser may resolve to 127.0.0.1 or to ::1,
so it binds the port on both, as soon as it is created: a busy port on either address is
reported before any browser opens, and no other program can sit on the other address
and take the callback. A host without IPv6 gets 127.0.0.1 alone. `wait` serves until
one callback on the expected path carries this attempt's state (checked in constant
time), or the timeout passes. Everything else (other paths, favicon, other methods,
missing parameters, a wrong state) gets a 4xx answer and the wait goes on. Nothing
is logged: the query string holds the code.
"""

from __future__ import annotations

import errno
import html
import logging
import os
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .. import errors
from .session import (
    AGAIN,
    PendingAuth,
    invalid_state,
    restart_hint,
    short_error_name,
    states_match,
)

log = logging.getLogger(__name__)

BIND_HOST = "127.0.0.1"
BIND_HOST_V6 = "::1"
# What binding ::1 raises on a host without IPv6 (no module, disabled, no loopback address).
_NO_IPV6 = frozenset({errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT})
_EPHEMERAL_TRIES = 8  # port 0: a port free on 127.0.0.1 may be taken on ::1; pick again
CONNECTION_TIMEOUT_SECONDS = 5.0
PORT_HINT_TEMPLATE = (
    "pass --port N with a free port and register http://localhost:N/ as a redirect URI of the app"
)
TIMEOUT_HINT = "run again with a longer --timeout"


def redirect_uri_for(port: int) -> str:
    """The redirect URI to register. Providers match it exactly (RFC 8252 allows http for
    a loopback redirect)."""
    return f"http://localhost:{port}/"


class _Outcome:
    """What the handler threads found, shared with `wait` under a lock."""

    def __init__(self, pending: PendingAuth, path: str, provider: str, again: str) -> None:
        self.pending = pending
        self.path = path
        self.provider = provider  # for messages: "Dropbox authorization was cancelled"
        self.again = again  # the command that starts a new attempt, for hints
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.claimed = False
        self.code: str | None = None
        self.error: errors.AuthError | None = None
        self.mismatches = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # server_close must not wait for a client that connected and never spoke.
    block_on_close = False
    # On POSIX SO_REUSEADDR only lets us rebind over TIME_WAIT leftovers of a previous
    # run; it never lets two listeners share the port (that would need SO_REUSEPORT,
    # which we never set). On Windows it would allow port stealing, so use
    # SO_EXCLUSIVEADDRUSE there instead.
    allow_reuse_address = os.name != "nt"
    outcome: _Outcome | None = None

    def server_bind(self) -> None:
        exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
        if exclusive is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        # TCPServer's bind, not HTTPServer's: that one asks getfqdn() (a DNS lookup that
        # can hang on a Pi without network) for a name we never use.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; keep quiet and secret-free.
        log.debug("callback listener: a request handler failed")


class _Server6(_Server):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        # ::1 only, never the IPv4 side as a mapped address: that is the other socket's
        if hasattr(socket, "IPV6_V6ONLY"):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


_PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head>"
    "<body style='font-family:sans-serif;margin:3em'><h1>{title}</h1><p>{body}</p>"
    "</body></html>"
)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = CONNECTION_TIMEOUT_SECONDS  # applied to each connection by StreamRequestHandler
    server_version = "fermentrack-backup"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the request line carries the authorization code."""

    def do_GET(self) -> None:
        outcome = self.server.outcome
        parts = urlsplit(self.path)
        if outcome is None or parts.path != outcome.path:
            self._page(404, "Not found", "Nothing here.")
            return
        try:
            params = parse_qs(parts.query, max_num_fields=32)
        except ValueError:
            params = {}
        state = _first(params, "state")
        code = _first(params, "code")
        error = _first(params, "error")
        if state is None or (code is None and error is None):
            self._page(400, "Bad request", "This address expects an OAuth callback.")
            return
        if not states_match(outcome.pending.state, state):
            with outcome.lock:
                outcome.mismatches += 1
            self._page(400, "State mismatch", "This link attempt is not the one in progress.")
            return
        self._finish(outcome, code, error)

    def _finish(self, outcome: _Outcome, code: str | None, error: str | None) -> None:
        with outcome.lock:
            if outcome.claimed:
                already = True
            else:
                already = False
                outcome.claimed = True
                if outcome.pending.expired():
                    outcome.error = invalid_state(outcome.again)
                elif error is not None:
                    outcome.error = _authorization_error(outcome, error)
                else:
                    outcome.code = code
        try:
            if already:
                self._page(409, "Already handled", "This link attempt has already finished.")
            elif outcome.code is not None:
                self._page(
                    200,
                    "Authorization received",
                    "Authorization received. You can close this tab; the terminal shows "
                    "whether linking finished.",
                )
            else:
                self._page(400, "Not linked", "Linking did not complete. You can close this tab.")
        finally:
            if not already:
                outcome.done.set()

    def _method_not_allowed(self) -> None:
        self._page(405, "Method not allowed", "Only GET is used here.", extra={"Allow": "GET"})

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed

    def _page(
        self, status: int, title: str, body: str, extra: dict[str, str] | None = None
    ) -> None:
        payload = _PAGE.format(title=html.escape(title), body=html.escape(body)).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values and values[0] else None


def _authorization_error(outcome: _Outcome, error: str) -> errors.AuthError:
    name = short_error_name(error)
    if name == "access_denied":
        return errors.AccessDenied(
            f"{outcome.provider} authorization was cancelled",
            hint=f"run {outcome.again} again and click Allow",
        )
    return errors.AuthError(
        f"{outcome.provider} authorization failed: {name}", hint=restart_hint(outcome.again)
    )


def _bind_pair(port: int) -> list[_Server]:
    """127.0.0.1:`port` and [::1]:`port` (the same port), or 127.0.0.1 alone without IPv6."""
    try:
        v4 = _Server((BIND_HOST, port), _Handler)
    except OSError as exc:
        raise _bind_error(port, exc, BIND_HOST) from None
    bound = int(v4.server_address[1])
    try:
        v6 = _Server6((BIND_HOST_V6, bound), _Handler)
    except OSError as exc:
        if exc.errno in _NO_IPV6:
            log.debug("no IPv6 loopback here: listening on %s only", BIND_HOST)
            return [v4]
        v4.server_close()
        raise _bind_error(bound, exc, f"[{BIND_HOST_V6}]") from None
    return [v4, v6]


class CallbackListener:
    """Listen on 127.0.0.1:`port` and [::1]:`port` for one OAuth redirect; a context manager.

    The port is bound in the constructor so the caller learns it is busy before
    opening a browser. Requests queue in the listen backlog until `wait` serves them.
    """

    def __init__(
        self, port: int, *, path: str = "/", provider: str = "OAuth", again: str = AGAIN
    ) -> None:
        self.path = path
        self.provider = provider
        self.again = again
        for attempt in range(_EPHEMERAL_TRIES):
            try:
                self._servers: list[_Server] = _bind_pair(port)
                break
            except errors.UsageError:
                if port != 0 or attempt == _EPHEMERAL_TRIES - 1:
                    raise
        self.port: int = int(self._servers[0].server_address[1])

    @property
    def addresses(self) -> list[str]:
        """Where it listens, e.g. ['127.0.0.1:53682', '[::1]:53682']."""
        return [
            f"[{BIND_HOST_V6}]:{self.port}"
            if isinstance(s, _Server6)
            else f"{BIND_HOST}:{self.port}"
            for s in self._servers
        ]

    @property
    def redirect_uri(self) -> str:
        return redirect_uri_for(self.port)

    def __repr__(self) -> str:
        return f"CallbackListener(port={self.port}, path={self.path!r})"

    def __enter__(self) -> CallbackListener:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.server_close()

    def wait(self, pending: PendingAuth, timeout: float) -> str:
        """Serve until this attempt's callback arrives; return the authorization code.

        Raises AccessDenied or AuthError when the callback carries an error,
        InvalidState when only callbacks with a wrong state came (or the attempt
        expired), and AuthError(code="timeout") when nothing usable came in time.
        """
        servers = list(self._servers)
        if not servers:
            raise RuntimeError("the callback listener is closed")
        outcome = _Outcome(pending, self.path, self.provider, self.again)
        threads = []
        for server in servers:  # one outcome: the first valid callback on either address
            server.outcome = outcome
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="oauth-callback-listener",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        try:
            deadline = time.monotonic() + timeout
            while not outcome.done.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                outcome.done.wait(min(remaining, 0.5))  # short slices keep Ctrl-C responsive
        finally:
            for server, thread in zip(servers, threads, strict=True):
                server.shutdown()
                thread.join()
                server.outcome = None
        return _result(outcome, timeout)


def _result(outcome: _Outcome, timeout: float) -> str:
    with outcome.lock:
        if outcome.error is not None:
            raise outcome.error
        if outcome.code is not None:
            return outcome.code
        if outcome.mismatches:
            raise invalid_state(outcome.again)
    raise errors.AuthError(
        f"timed out after {timeout:g} s waiting for the browser",
        hint=TIMEOUT_HINT,
        code="timeout",
    )


def _bind_error(port: int, exc: OSError, host: str) -> errors.UsageError:
    if exc.errno == errno.EADDRINUSE:
        return errors.UsageError(
            f"port {port} is busy: another program is listening on {host}:{port}",
            hint=PORT_HINT_TEMPLATE,
            code="port_busy",
        )
    return errors.UsageError(
        f"cannot listen on {host}:{port}: {exc.strerror or exc}",
        hint=PORT_HINT_TEMPLATE,
        code="port_unavailable",
    )
