"""The HTTPS session under the SDK client: no request outlives the run's deadline.

The SDK sends every call, its token refresh and every download through one
`requests.Session` with `timeout=` its own value. Ours clips each request's
(connect, read) timeouts to what is left of the run's budget. A read timeout
is per recv, though, so a server that trickles a byte every few seconds never
trips it, and a request sent just before the deadline may wait a whole read
timeout past it: when the deadline passes, one watchdog thread shuts down the
sockets of this session's connections, and every blocked call (the main
thread's or an upload worker's) returns at once with a connection error, which
`retry.RetryPolicy` reports as the budget being used up.

The sockets are found through the connection class: the pool manager (and a
proxy manager, for HTTPS_PROXY) builds its HTTPS pools with a connection class
that registers itself with the session's `_Sockets` when it connects. A SOCKS
proxy keeps its own connection classes: there only the clipped timeouts apply.

With a bandwidth limit (`bandwidth.Limiter`, the run's one bucket), every request body
is handed to urllib3 as a `ThrottledBody`: sent piece by piece at the limiter's pace,
with the Content-Length the SDK's bytes already set. Downloads are paced where their
bodies are read (core.download).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import socket
import ssl
import threading
import time
import weakref
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager
from urllib3.util.timeout import Timeout

from ...bandwidth import Limiter, ThrottledBody
from ...retry import Deadline

POOL_MAXSIZE = 16  # --parallel is at most 16
WAKE_S = 3600.0  # the watchdog's longest sleep


class _Sockets:
    """The connections of one session, so `cut()` can shut their sockets down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: weakref.WeakSet[HTTPSConnection] = weakref.WeakSet()
        self._cut = False
        _LIVE.add(self)

    def add(self, conn: HTTPSConnection) -> None:
        with self._lock:
            if not self._cut:
                self._conns.add(conn)
                return
        _shut(conn)  # connected after the deadline (a request that started just before)

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            conns = list(self._conns)
        for conn in conns:
            _shut(conn)


_LIVE: weakref.WeakSet[_Sockets] = weakref.WeakSet()


def cut_every_connection() -> None:
    """Shut down every session's sockets, for good: on Ctrl-C or SIGTERM the upload
    threads blocked reading a stalled server end now, not at their read timeout (the
    interpreter waits for them before it exits)."""
    for sockets in list(_LIVE):
        sockets.cut()


def _shut(conn: HTTPSConnection) -> None:
    sock: Any = getattr(conn, "sock", None)
    for _ in range(3):  # TLS in TLS (an HTTPS proxy) wraps the socket in an SSLTransport
        if sock is None or isinstance(sock, socket.socket):
            break
        sock = getattr(sock, "socket", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):
        # the plain socket's shutdown, not SSLSocket.shutdown(): that one drops the TLS
        # object under a thread blocked reading it; this one makes that read return EOF
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for the process: at each deadline, cut that session's sockets."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, weakref.ref[_Sockets]]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, at: float, sockets: _Sockets) -> None:
        if not math.isfinite(at):
            return  # no deadline to keep
        with self._cond:
            heapq.heappush(self._heap, (at, next(self._ids), weakref.ref(sockets)))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="fermentrack-backup-deadline", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else WAKE_S
                    # a budget of years would overflow the lock's timeout: wake up and look
                    self._cond.wait(min(wait, WAKE_S))
                _, _, ref = heapq.heappop(self._heap)
            sockets = ref()
            if sockets is not None:
                sockets.cut()


_WATCHDOG = _Watchdog()


def _pool_classes(sockets: _Sockets) -> dict[str, type[HTTPConnectionPool]]:
    class Connection(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            sockets.add(self)

    class Pool(HTTPSConnectionPool):
        ConnectionCls = Connection

    return {"http": HTTPConnectionPool, "https": Pool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPS adapter whose requests end by `deadline` (None: only the SDK's timeout)."""

    def __init__(
        self, deadline: Deadline | None, ca_certs: str | None, limiter: Limiter | None = None
    ) -> None:
        self.deadline = deadline
        self.limiter = limiter
        self._ca_certs = ca_certs
        self._sockets = _Sockets()
        self._pools = _pool_classes(self._sockets)
        super().__init__(pool_connections=4, pool_maxsize=POOL_MAXSIZE)
        if deadline is not None:
            _WATCHDOG.watch(deadline.at, self._sockets)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(
            connections,
            maxsize,
            block,
            cert_reqs=ssl.CERT_REQUIRED,  # as the SDK's own session: always verify
            ca_certs=self._ca_certs,
            **pool_kwargs,
        )
        self.poolmanager.pool_classes_by_scheme = self._pools

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # not SOCKS: it has connection classes of its own
            manager.pool_classes_by_scheme = self._pools
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        timeout = self.clip(timeout)
        if self.limiter is not None and isinstance(request.body, bytes) and request.body:
            request.body = ThrottledBody(request.body, self.limiter)  # type: ignore[assignment]
        return super().send(request, stream, timeout, verify, cert, proxies)

    def clip(self, timeout: Any) -> Any:
        """(connect, read) timeouts that end by the deadline; none left: fail now."""
        if self.deadline is None:
            return timeout
        left = self.deadline.remaining()
        if left <= 0:
            raise requests.exceptions.ConnectTimeout("the run's time budget is used up")
        if isinstance(timeout, Timeout):
            connect, read = timeout.connect_timeout, timeout.read_timeout
        elif isinstance(timeout, tuple):
            connect, read = timeout
        else:
            connect = read = timeout
        return (_at_most(connect, left), _at_most(read, left))


def _at_most(value: Any, left: float) -> float:
    return min(float(value), left) if isinstance(value, int | float) else left


def deadline_session(
    deadline: Deadline | None, ca_certs: str | None, limiter: Limiter | None = None
) -> requests.Session:
    """A session like the SDK's own (`pinned_session`), bounded by `deadline`, its
    request bodies paced by `limiter`."""
    session = requests.Session()
    session.verify = ca_certs if ca_certs is not None else True
    session.mount("https://", DeadlineAdapter(deadline, ca_certs, limiter))
    return session
