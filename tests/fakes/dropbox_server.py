"""A fake Dropbox API server speaking real HTTPS on 127.0.0.1, for driving the real SDK.

One threaded server answers every host the SDK talks to (api, content and www), so point
``DROPBOX_API_HOST``, ``DROPBOX_API_CONTENT_HOST`` and ``DROPBOX_WEB_HOST`` at ``fake.host``.

Usage::

    with FakeDropbox(tmp_path / "dbx") as fake:
        undo = point_sdk_at(fake, monkeypatch)   # in-process SDK (see below)
        token = fake.issue_refresh_token()
        dbx = dropbox.Dropbox(oauth2_refresh_token=token, app_key=fake.app_key,
                              app_secret=fake.app_secret, ca_certs=str(fake.ca_path))

Pointing the SDK at the fake
----------------------------
* Subprocesses: pass ``env={**os.environ, **fake.env()}``.  The SDK reads the host variables
  when ``dropbox.session`` is first imported, which in a fresh process is after the env is set.
* In-process: ``dropbox`` has usually been imported already, and its host names were copied
  at import time into ``dropbox.session``, ``dropbox.dropbox_client`` and ``dropbox.oauth``
  module globals *and* into two default arguments
  (``_DropboxTransport.refresh_access_token(host=API_HOST)`` and
  ``DropboxOAuth2FlowBase.build_url(host=API_HOST)``).  ``point_sdk_at(fake, monkeypatch)``
  patches all of them (and sets the env vars) and is undone by monkeypatch; without
  monkeypatch it returns an ``undo()`` callable.  ``Dropbox`` objects build their host map in
  ``__init__``, so create them *after* calling ``point_sdk_at``.
* CA bundle: ``requests`` lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override the SDK's
  ``ca_certs`` (this machine sets both to the system bundle), so in-process tests must set them
  to ``fake.ca_path`` - ``point_sdk_at`` does that too.

Latency: ``fake.latency = 0.05`` models a network round trip per request: every request
waits that many seconds after its body has been received (or before a reset) and before its
response is sent, so the wait never overlaps the transfer of the body; requests on separate
connections wait concurrently, as they would on a real link.

Bandwidth: ``fake.rate_limit = 20e6`` (bytes per second, 0 = unlimited) caps each
connection's upstream: the fake reads every request body no faster than that (it sleeps
between reads until the bytes so far are due), so TCP back-pressure slows the client as a
link of that speed would; separate connections each get the full rate, as separate TCP
streams on a path whose bottleneck is per-flow.

Storage: each body is received once, hashed once as it arrives (its content hash is checked
against that) and written to disk once.  A sequential session's hash grows from the
per-request block digests and its file is renamed into place by finish; a concurrent
session's chunks are written into one file at their offsets and its hash is combined from
their block digests, so finish renames too (gaps or overlapping chunks fall back to the
plain concatenation in offset order).

Benchmark mode: ``fake.persist = False`` (default True) keeps the metadata but not the
bytes.  Upload bodies are still received in full and content-hashed as they arrive, and
every request's content_hash check happens as usual, but nothing is written to disk:
sessions and committed files are empty placeholder files.  A sequential session's hash
grows from the per-request block digests as always; a concurrent session keeps each
chunk's 4 MiB block digests keyed by offset and combines them in offset order at finish
(every chunk but the last in offset order must be a multiple of 4 MiB, which the API's
own rules ensure for ordinary traffic; otherwise finish answers 500).  Committed files
keep size, content_hash, rev etc., so list_folder/get_metadata work, but downloading such
a file answers 500 and ``read_file``/``corrupt`` raise.  Upload bodies over
``MEMORY_BODY_LIMIT`` (or chunked) still pass through a spill file.  ``put_file`` always
stores the bytes.  Only for benchmarks: real Dropbox's storage cost is not on the
client's machine, while this fake's disk writes would share its CPUs.

Faults: ``fake.inject(route, fault, times=1, **kw)``; route is an API route such as
``"files/upload_session/append_v2"`` (a leading ``/2/`` is accepted), ``"oauth2/token"``, or
``"*"`` for any route.  See ``FAULTS`` and ``FakeDropbox.inject``.

Slow servers, for clients that must give up on time:

* ``"stall"``: the request is read in full and never answered (nor carried out) until the
  client disconnects or the fake stops; ``seconds=S`` answers normally after S seconds.
* ``"trickle"``: the request is carried out and its answer sent one byte every ``interval``
  seconds (default 1.0): ``part="body"`` (default) sends the headers at once and trickles
  the body, ``part="headers"`` trickles from the status line on.  Works on every route,
  downloads and ``oauth2/token`` included.

Both end promptly when the fake stops (``stop()`` wakes them), so a test never hangs at
teardown with such a connection open.  ``"malformed"`` answers 200 with a result the SDK
cannot deserialise: the real result with every field's value of the wrong type, or
``body=...`` (any JSON value) instead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import secrets
import shutil
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .tls import FakeTLS, make_tls

BLOCK_SIZE = 4 * 1024 * 1024
MAX_UPLOAD_BODY = 150 * 1024 * 1024
MAX_SESSION_SIZE = 350 * 1024**3
GIB = 1024**3
AUTH_CODE_TTL = 600.0
IO_CHUNK = 1024 * 1024
MEMORY_BODY_LIMIT = 32 * 1024 * 1024  # larger (or chunked) upload bodies go to a temp file
IGNORED_NAMES = frozenset(
    {"desktop.ini", "thumbs.db", ".ds_store", "icon\r", ".dropbox", ".dropbox.attr"}
)

TRANSPORT_FAULTS = frozenset({"429", "500", "503", "reset", "expired_token", "stall"})
SEMANTIC_FAULTS = frozenset(
    {"incorrect_offset", "content_hash_mismatch", "insufficient_space", "no_write_permission"}
)
# "lost_reply": the request is carried out, then the connection drops before the answer
REPLY_FAULTS = frozenset({"lost_reply"})
# "malformed": a 200 whose JSON result has the wrong types (the SDK cannot decode it)
RESULT_FAULTS = frozenset({"malformed"})
# "trickle": the answer leaves one byte at a time (taken when the request arrives)
SLOW_FAULTS = frozenset({"trickle"})
FAULTS = TRANSPORT_FAULTS | SEMANTIC_FAULTS | REPLY_FAULTS | RESULT_FAULTS | SLOW_FAULTS

JSON = dict[str, Any]


def content_hash_of(data: bytes) -> str:
    """Dropbox content hash: SHA-256 over the concatenated SHA-256 digests of 4 MiB blocks."""
    h = ContentHasher()
    h.update(data)
    return h.hexdigest()


class ContentHasher:
    """Incremental Dropbox content hasher (hashlib only, independent of the SDK's copy).

    Keeps the digest of every completed 4 MiB block, so two hashers whose data meet at a
    block boundary combine without hashing a byte again (``extend``): a sequential
    session's hash is built from the per-request hashes, a concurrent session's from the
    per-chunk block digests.
    """

    def __init__(self) -> None:
        self._digests: list[bytes] = []
        self._block = hashlib.sha256()
        self._pos = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            if self._pos == BLOCK_SIZE:
                self._digests.append(self._block.digest())
                self._block = hashlib.sha256()
                self._pos = 0
            take = min(BLOCK_SIZE - self._pos, len(view))
            self._block.update(view[:take])
            self._pos += take
            view = view[take:]

    @property
    def aligned(self) -> bool:
        """True when the data hashed so far ends on a block boundary."""
        return self._pos in (0, BLOCK_SIZE)

    def block_digests(self) -> list[bytes]:
        """The digest of every block, the last (possibly partial) one included."""
        return self._digests + ([self._block.digest()] if self._pos else [])

    def extend(self, other: ContentHasher) -> None:
        """Append ``other``'s data (already hashed) to this hasher's; requires ``aligned``."""
        if not self.aligned:
            raise ValueError("extend() needs a hasher that ends on a block boundary")
        if not other._pos:
            return
        if self._pos == BLOCK_SIZE:
            self._digests.append(self._block.digest())
        self._digests.extend(other._digests)
        self._block = other._block.copy()
        self._pos = other._pos

    def copy(self) -> ContentHasher:
        twin = ContentHasher()
        twin._digests = list(self._digests)
        twin._block = self._block.copy()
        twin._pos = self._pos
        return twin

    def hexdigest(self) -> str:
        return _combine(self.block_digests())


def _combine(digests: list[bytes]) -> str:
    return hashlib.sha256(b"".join(digests)).hexdigest()


def file_content_hash(path: Path) -> str:
    h = ContentHasher()
    with open(path, "rb") as f:
        while chunk := f.read(IO_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _copy_range(src: int, dst: int, offset: int, count: int) -> None:
    """Copy ``count`` bytes at ``offset`` of ``src`` to the current position of ``dst``."""
    while count > 0:
        data = os.pread(src, min(IO_CHUNK, count), offset)
        if not data:
            break
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view) :]
        offset += len(data)
        count -= len(data)


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(err: JSON) -> str:
    parts: list[str] = []
    cur: Any = err
    while isinstance(cur, dict) and ".tag" in cur:
        tag = cur[".tag"]
        parts.append(tag)
        nxt = cur.get(tag)
        if not isinstance(nxt, dict) and isinstance(cur.get("reason"), dict):
            nxt = cur["reason"]
        cur = nxt
    return "/".join(parts) + "/..."


def _tag(value: Any, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, str):
        return value
    return str(value.get(".tag", default))


def _parent(lower: str) -> str:
    return lower.rsplit("/", 1)[0]


@dataclass
class RecordedRequest:
    """One request as the fake saw it (bodies are never recorded)."""

    method: str
    path: str  # URL path without the query string, e.g. "/2/files/upload"
    route: str  # e.g. "files/upload", "oauth2/token", "oauth2/authorize"
    args: Any  # parsed JSON args, form fields or query params
    headers: dict[str, str]
    status: int | None = None
    fault: str | None = None
    time: float = 0.0


@dataclass
class _Fault:
    route: str
    fault: str
    remaining: int
    kw: dict[str, Any]


@dataclass
class _File:
    path_display: str
    blob: Path
    size: int
    content_hash: str
    rev: str
    id: str
    client_modified: str
    server_modified: str
    mangle_downloads: int = 0  # >0: that many mangled downloads; -1: forever
    stored: bool = True  # False: committed with persist=False, `blob` is an empty placeholder


@dataclass
class _Folder:
    path_display: str
    id: str


@dataclass
class _Session:
    id: str
    kind: str  # "sequential" | "concurrent"
    created: float
    file: Path  # sequential: the data so far; concurrent: the chunks at their offsets
    size: int = 0
    closed: bool = False
    end: int | None = None  # concurrent: total size once the closing chunk arrived
    chunks: dict[int, tuple[Path, int]] = field(default_factory=dict)  # concurrent
    hasher: ContentHasher = field(default_factory=ContentHasher)  # sequential: of `file`
    digests: dict[int, list[bytes]] = field(default_factory=dict)  # concurrent: per chunk
    # concurrent: True while every chunk lives in `file` at its own offset (they never
    # overlapped); after an overlapping chunk each one has a file of its own.
    shared: bool = True
    stored: bool = True  # False: started with persist=False, no bytes are written


class _Body:
    """A received upload body: size, content hash (computed once, as it arrived) and bytes.

    The bytes are in memory for bodies with a Content-Length up to ``MEMORY_BODY_LIMIT``,
    otherwise in a temporary file under ``incoming/``.  ``discard()`` frees either.
    """

    def __init__(
        self, hasher: ContentHasher, size: int, data: bytearray | None, path: Path | None
    ) -> None:
        self.hasher = hasher
        self.size = size
        self.data = data
        self.path = path
        self.chash = hasher.hexdigest()

    def save(self, dest: Path) -> None:
        """Make ``dest`` a file holding the body (a rename when it is already on disk)."""
        if self.path is not None:
            os.replace(self.path, dest)
            self.path = None
            return
        with open(dest, "wb") as f:
            if self.data:
                f.write(self.data)

    def write_to(self, out: Any) -> None:
        """Write the body at ``out``'s current position."""
        if self.data is not None:
            if self.data:
                out.write(self.data)
            return
        assert self.path is not None
        with open(self.path, "rb") as src:
            shutil.copyfileobj(src, out, IO_CHUNK)

    def feed(self, hasher: ContentHasher) -> None:
        """Add the body to ``hasher``: from its block digests when they line up, else rehash."""
        if hasher.aligned:
            hasher.extend(self.hasher)
        elif self.data is not None:
            hasher.update(self.data)
        else:
            assert self.path is not None
            with open(self.path, "rb") as src:
                while chunk := src.read(IO_CHUNK):
                    hasher.update(chunk)

    def discard(self) -> None:
        self.data = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


@dataclass
class _AuthCode:
    client_id: str
    redirect_uri: str | None
    code_challenge: str | None
    token_access_type: str | None
    scope: str | None
    expires: float
    used: bool = False


@dataclass
class _RefreshToken:
    client_id: str
    pkce: bool
    scope: str
    revoked: bool = False


@dataclass
class _AccessToken:
    client_id: str
    expires: float | None
    refresh_token: str | None
    revoked: bool = False


class _Reset(Exception):
    """Raised inside the handler to abort the connection with a TCP RST."""


class _Reply(Exception):
    """Raised inside route handlers to send an immediate response."""

    def __init__(
        self,
        status: int,
        body: bytes | str | JSON | None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _api_error(err: JSON) -> _Reply:
    return _Reply(409, {"error_summary": _summary(err), "error": err})


def _bad_input(route: str, message: str) -> _Reply:
    return _Reply(
        400,
        f'Error in call to API function "{route}": {message}',
        "text/plain; charset=utf-8",
    )


def _oauth_error(error: str, description: str, status: int = 400) -> _Reply:
    return _Reply(status, {"error": error, "error_description": description})


class FakeDropbox:
    """An in-memory-metadata, on-disk-bytes fake of the Dropbox API v2 over HTTPS.

    Knobs are plain attributes and may be changed at any time.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        app_key: str = "fake-app-key",
        app_secret: str = "fake-app-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        tls: FakeTLS | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("blobs", "sessions", "incoming"):
            (self.root / sub).mkdir(exist_ok=True)
        self.tls = tls or make_tls(self.root / "tls")
        self.ca_path: Path = self.tls.ca_path
        self.bind_host = host
        self._requested_port = port

        # --- knobs ---
        self.app_key = app_key
        self.app_secret = app_secret
        self.access_token_lifetime: float = 14400
        self.list_page_size: int = 100
        self.quota_allocated: int = 2 * GIB
        self.latency: float = 0.0  # seconds per request, after its body, before its response
        self.rate_limit: float = 0.0  # bytes per second of request body per connection; 0: off
        self.deny_authorization: bool = False
        self.session_ttl: float = 7 * 24 * 3600
        self.delete_batch_async: bool = True  # False: delete_batch answers "complete" at once
        self.account_id: str = "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"
        self.uid: str = "12345678"
        self.email: str = "brewer@example.com"
        self.display_name: str = "Fake Brewer"
        self.clock: Callable[[], float] = time.time
        # benchmark mode only: False hashes upload bodies but does not store their bytes
        # (see the module docstring; such files cannot be downloaded)
        self.persist: bool = True

        # --- state ---
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._files: dict[str, _File] = {}
        self._folders: dict[str, _Folder] = {}
        self._sessions: dict[str, _Session] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._cursors: dict[str, list[Any]] = {}
        self._jobs: dict[str, JSON] = {}
        self._faults: list[_Fault] = []
        self._rev_counter = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeDropbox:
        if self._server is not None:
            return self
        server = _Server((self.bind_host, self._requested_port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()  # wakes stalled and trickling handlers
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeDropbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeDropbox is not running")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{self.bind_host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.host}"

    def env(self) -> dict[str, str]:
        """Environment variables that point a fresh SDK process at this fake."""
        ca = str(self.ca_path)
        return {
            "DROPBOX_API_HOST": self.host,
            "DROPBOX_API_CONTENT_HOST": self.host,
            "DROPBOX_API_NOTIFY_HOST": self.host,
            "DROPBOX_WEB_HOST": self.host,
            "REQUESTS_CA_BUNDLE": ca,
            "CURL_CA_BUNDLE": ca,
            "SSL_CERT_FILE": ca,
        }

    # ------------------------------------------------------------------ faults & tampering
    def inject(self, route: str, fault: str, times: int = 1, **kw: Any) -> None:
        """Queue ``fault`` for the next ``times`` requests to ``route`` ("*" = any route).

        Faults: "429" (kw retry_after=1, reason="too_many_requests"|"too_many_write_operations"),
        "500", "503", "reset" (abort the TCP connection after reading part of the body),
        "expired_token" (401 expired_access_token), "incorrect_offset" (append_v2/finish answer
        with the true correct_offset without applying), "content_hash_mismatch" (upload,
        upload_session/*), "insufficient_space" (upload, upload_session/finish),
        "no_write_permission" (upload, upload_session/finish, delete_v2, each delete_batch
        entry: the write is refused as a team folder's permissions would),
        "lost_reply" (carried out, then the connection drops), "stall" (kw seconds=None:
        read the request, answer nothing until the client leaves or the fake stops),
        "trickle" (kw interval=1.0, part="body"|"headers": the answer one byte at a time),
        "malformed" (kw body=None: a 200 whose result has wrong types; RPC and upload routes).
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULTS)}")
        with self._lock:
            self._faults.append(_Fault(_norm_route(route), fault, times, kw))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return [(f.route, f.fault, f.remaining) for f in self._faults]

    def _take_fault(self, route: str, kinds: frozenset[str] | set[str]) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.fault in kinds and f.route in ("*", route):
                    f.remaining -= 1
                    if f.remaining <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def corrupt(self, path: str) -> None:
        """Flip bytes of the stored copy; its recorded content_hash keeps the old value."""
        with self._lock:
            entry = self._require_file(path)
            self._require_stored(entry)
            with open(entry.blob, "r+b") as f:
                if entry.size == 0:
                    f.write(b"\x00")
                    entry.size = 1
                    return
                pos = entry.size // 2
                f.seek(pos)
                b = f.read(1)
                f.seek(pos)
                f.write(bytes([b[0] ^ 0xFF]))

    def download_hash_mismatch(self, path: str, times: int | None = None) -> None:
        """Serve bytes that differ from what the metadata's content_hash says.

        ``times=None`` keeps doing so for every download of ``path``.
        """
        with self._lock:
            self._require_file(path).mangle_downloads = -1 if times is None else times

    def revoke_all_tokens(self) -> None:
        """Every refresh token becomes invalid (invalid_grant) and every access token too."""
        with self._lock:
            for rt in self._refresh_tokens.values():
                rt.revoked = True
            for at in self._access_tokens.values():
                at.revoked = True

    def expire_access_tokens(self) -> None:
        with self._lock:
            now = self.clock()
            for at in self._access_tokens.values():
                at.expires = now - 1

    # ------------------------------------------------------------------ test helpers
    def issue_refresh_token(self, client_id: str | None = None, *, pkce: bool = False) -> str:
        """Mint a refresh token as if an offline OAuth flow had completed."""
        token = "rt." + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh_tokens[token] = _RefreshToken(
                client_id or self.app_key, pkce, "account_info.read files.content.write"
            )
        return token

    def issue_access_token(
        self, refresh_token: str | None = None, lifetime: float | None = None
    ) -> str:
        token = "sl.fake-" + secrets.token_urlsafe(32)
        with self._lock:
            life = self.access_token_lifetime if lifetime is None else lifetime
            client = self.app_key
            if refresh_token and refresh_token in self._refresh_tokens:
                client = self._refresh_tokens[refresh_token].client_id
            self._access_tokens[token] = _AccessToken(client, self.clock() + life, refresh_token)
        return token

    def put_file(self, path: str, data: bytes, client_modified: str | None = None) -> JSON:
        """Store ``data`` at ``path`` directly (overwrite), returning its file metadata."""
        tmp = self._incoming()
        tmp.write_bytes(data)
        with self._lock:
            err = self._check_write_path(path)
            if err:
                tmp.unlink()
                raise ValueError(f"bad path {path!r}: {err}")
            meta, werr = self._commit(
                path,
                {"path": path, "mode": "overwrite", "client_modified": client_modified},
                tmp,
                len(data),
                content_hash_of(data),
                route="",
            )
        if werr:
            raise ValueError(f"cannot store {path!r}: {werr}")
        assert meta is not None
        return meta

    def read_file(self, path: str) -> bytes:
        with self._lock:
            entry = self._require_file(path)
            self._require_stored(entry)
            return entry.blob.read_bytes()

    @staticmethod
    def _require_stored(entry: _File) -> None:
        if not entry.stored:
            raise ValueError(
                f"{entry.path_display!r} was uploaded with persist=False: its bytes were not kept"
            )

    def exists(self, path: str) -> bool:
        low = path.lower()
        with self._lock:
            return low in self._files or low in self._folders

    def metadata(self, path: str) -> JSON:
        with self._lock:
            low = path.lower()
            if low in self._files:
                return self._file_meta(self._files[low])
            if low in self._folders:
                return self._folder_meta(self._folders[low])
            raise KeyError(path)

    def file_paths(self) -> list[str]:
        with self._lock:
            return sorted(f.path_display for f in self._files.values())

    def used_bytes(self) -> int:
        with self._lock:
            return sum(f.size for f in self._files.values())

    def requests_to(self, route: str) -> list[RecordedRequest]:
        r = _norm_route(route)
        return [q for q in list(self.requests) if q.route == r]

    def open_sessions(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    # ------------------------------------------------------------------ internals: storage
    def _incoming(self) -> Path:
        return self.root / "incoming" / secrets.token_hex(12)

    def _require_file(self, path: str) -> _File:
        entry = self._files.get(path.lower())
        if entry is None:
            raise KeyError(path)
        return entry

    def _new_rev(self) -> str:
        self._rev_counter += 1
        return f"{self._rev_counter:09x}{secrets.token_hex(4)}"

    def _file_meta(self, f: _File) -> JSON:
        return {
            ".tag": "file",
            "name": f.path_display.rsplit("/", 1)[1],
            "path_lower": f.path_display.lower(),
            "path_display": f.path_display,
            "id": f.id,
            "client_modified": f.client_modified,
            "server_modified": f.server_modified,
            "rev": f.rev,
            "size": f.size,
            "is_downloadable": True,
            "content_hash": f.content_hash,
        }

    def _folder_meta(self, d: _Folder) -> JSON:
        return {
            ".tag": "folder",
            "name": d.path_display.rsplit("/", 1)[1],
            "path_lower": d.path_display.lower(),
            "path_display": d.path_display,
            "id": d.id,
        }

    @staticmethod
    def _path_problem(path: Any, *, allow_root: bool) -> JSON | None:
        """Returns a WriteError/LookupError-shaped problem for a malformed path, else None."""
        if not isinstance(path, str):
            return {".tag": "malformed_path"}
        if path == "" and allow_root:
            return None
        if not path.startswith("/") or path.endswith("/"):
            return {".tag": "malformed_path"}
        for comp in path[1:].split("/"):
            if comp in ("", ".", "..") or len(comp.encode("utf-8")) > 255:
                return {".tag": "malformed_path"}
            if any(ord(c) < 0x20 and c != "\r" for c in comp) or "\x7f" in comp:
                return {".tag": "malformed_path"}
        return None

    def _check_write_path(self, path: Any) -> JSON | None:
        problem = self._path_problem(path, allow_root=False)
        if problem:
            return problem
        for comp in path[1:].split("/"):
            if comp.lower() in IGNORED_NAMES or comp.endswith((" ", ".")):
                return {".tag": "disallowed_name"}
        return None

    def _ancestor_conflict(self, lower: str) -> JSON | None:
        parent = _parent(lower)
        while parent:
            if parent in self._files:
                return {".tag": "conflict", "conflict": {".tag": "file_ancestor"}}
            parent = _parent(parent)
        return None

    def _ensure_parents(self, display: str) -> None:
        parts = display.split("/")[1:-1]
        cur = ""
        for comp in parts:
            cur = f"{cur}/{comp}"
            low = cur.lower()
            if low not in self._folders:
                self._folders[low] = _Folder(cur, "id:" + secrets.token_urlsafe(16))

    def _display_for(self, path: str) -> str:
        """Keep the existing casing of ancestors that already exist (as Dropbox does)."""
        comps = path.split("/")[1:]
        out = ""
        for i, comp in enumerate(comps):
            candidate = f"{out}/{comp}"
            existing = self._folders.get(candidate.lower()) if i < len(comps) - 1 else None
            out = existing.path_display if existing else candidate
        return out

    def _autorename(self, display: str) -> str:
        parent, name = display.rsplit("/", 1)
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, ext, dot = name, "", ""
        n = 1
        while True:
            cand = f"{parent}/{stem} ({n}){dot}{ext}"
            if cand.lower() not in self._files and cand.lower() not in self._folders:
                return cand
            n += 1

    def _commit(
        self,
        path: str,
        commit: JSON,
        tmp: Path,
        size: int,
        chash: str,
        route: str,
        stored: bool = True,
    ) -> tuple[JSON | None, JSON | None]:
        """Store ``tmp`` at ``path`` following ``commit``; returns (metadata, WriteError)."""
        with self._lock:
            if route and self._take_fault(route, {"insufficient_space"}):
                return None, {".tag": "insufficient_space"}
            if route and self._take_fault(route, {"no_write_permission"}):
                return None, {".tag": "no_write_permission"}
            mode_raw = commit.get("mode")
            mode = _tag(mode_raw, "add")
            autorename = bool(commit.get("autorename", False))
            display = self._display_for(path)
            low = display.lower()
            conflict = self._ancestor_conflict(low)
            if conflict:
                return None, conflict
            if low in self._folders:
                if not autorename:
                    return None, {".tag": "conflict", "conflict": {".tag": "folder"}}
                display = self._autorename(display)
                low = display.lower()
            existing = self._files.get(low)
            if existing is not None:
                if mode == "add" or (
                    mode == "update"
                    and isinstance(mode_raw, dict)
                    and mode_raw.get("update") != existing.rev
                ):
                    if existing.content_hash == chash and existing.size == size:
                        tmp.unlink(missing_ok=True)
                        return self._file_meta(existing), None
                    if not autorename:
                        return None, {".tag": "conflict", "conflict": {".tag": "file"}}
                    display = self._autorename(display)
                    low = display.lower()
                    existing = None
            elif mode == "update" and not autorename:
                # updating a rev of a file that is gone: Dropbox reports a conflict
                return None, {".tag": "conflict", "conflict": {".tag": "file"}}
            used = sum(f.size for f in self._files.values())
            if used - (existing.size if existing else 0) + size > self.quota_allocated:
                return None, {".tag": "insufficient_space"}
            blob = self.root / "blobs" / secrets.token_hex(12)
            os.replace(tmp, blob)
            now = self.clock()
            self._ensure_parents(display)
            if existing is not None:
                existing.blob.unlink(missing_ok=True)
            entry = _File(
                path_display=display,
                blob=blob,
                size=size,
                content_hash=chash,
                rev=self._new_rev(),
                id=existing.id if existing else "id:" + secrets.token_urlsafe(16),
                client_modified=commit.get("client_modified") or _ts(now),
                server_modified=_ts(now),
                stored=stored,
            )
            self._files[low] = entry
            return self._file_meta(entry), None

    def _delete(self, path: Any, route: str = "") -> tuple[JSON | None, JSON | None]:
        """Returns (metadata, DeleteError)."""
        problem = self._path_problem(path, allow_root=False)
        if problem:
            return None, {".tag": "path_lookup", "path_lookup": problem}
        if route and self._take_fault(route, {"no_write_permission"}):
            return None, {".tag": "path_write", "path_write": {".tag": "no_write_permission"}}
        low = path.lower()
        with self._lock:
            if low in self._files:
                entry = self._files.pop(low)
                entry.blob.unlink(missing_ok=True)
                return self._file_meta(entry), None
            if low in self._folders:
                folder = self._folders.pop(low)
                prefix = low + "/"
                for k in [k for k in self._files if k.startswith(prefix)]:
                    self._files.pop(k).blob.unlink(missing_ok=True)
                for k in [k for k in self._folders if k.startswith(prefix)]:
                    del self._folders[k]
                return self._folder_meta(folder), None
        return None, {".tag": "path_lookup", "path_lookup": {".tag": "not_found"}}

    # ------------------------------------------------------------------ internals: auth
    def _check_bearer(self, header: str | None, route: str) -> _AccessToken:
        if not header:
            raise _bad_input(
                route,
                'Must provide HTTP header "Authorization" or URL parameter "authorization".',
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _bad_input(route, 'Invalid authorization value in HTTP header "Authorization".')
        with self._lock:
            at = self._access_tokens.get(token.strip())
            if at is None or at.revoked:
                raise _auth_error("invalid_access_token")
            if at.expires is not None and at.expires <= self.clock():
                raise _auth_error("expired_access_token")
            return at

    def _client_auth(self, form: dict[str, str], auth_header: str | None) -> tuple[str, bool]:
        """Returns (client_id, secret_verified).  Raises invalid_client on bad credentials."""
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        if auth_header and auth_header.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth_header[6:].strip()).decode("utf-8")
            except ValueError as e:
                raise _oauth_error("invalid_client", "Invalid client credentials") from e
            client_id, _, secret = raw.partition(":")
        if not client_id:
            raise _oauth_error("invalid_request", "No auth function available for given request")
        if client_id != self.app_key:
            raise _oauth_error("invalid_client", "Invalid client_id or client_secret")
        if secret is not None and secret != self.app_secret:
            raise _oauth_error("invalid_client", "Invalid client_id or client_secret")
        return client_id, secret is not None

    def _mint_access_token(self, client_id: str, refresh_token: str | None) -> tuple[str, int]:
        token = "sl.fake-" + secrets.token_urlsafe(32)
        life = self.access_token_lifetime
        with self._lock:
            self._access_tokens[token] = _AccessToken(client_id, self.clock() + life, refresh_token)
        return token, int(life)

    # ------------------------------------------------------------------ request handling
    def _handle(self, h: _Handler) -> None:
        parsed = urllib.parse.urlsplit(h.path)
        path = parsed.path
        rec = RecordedRequest(
            method=h.command,
            path=path,
            route=_norm_route(path),
            args=None,
            headers={k: v for k, v in h.headers.items()},
            time=self.clock(),
        )
        with self._lock:
            self.requests.append(rec)
        slow = self._take_fault(rec.route, SLOW_FAULTS)
        if slow is not None:
            rec.fault = slow.fault
            h.trickle = (float(slow.kw.get("interval", 1.0)), str(slow.kw.get("part", "body")))
        try:
            try:
                self._dispatch(h, rec, parsed)
            except _Reply as r:
                h.drain_body()
                rec.status = r.status
                h.send(r.status, r.body, r.content_type, r.headers)
        except _Reset:
            rec.status = None
            if rec.fault != "stall":  # a stall the client gave up on stays a stall
                rec.fault = "reset"
            raise

    def _send_ok(self, h: _Handler, rec: RecordedRequest, body: bytes) -> None:
        """Answer 200, unless a lost_reply fault drops the connection after the work."""
        if self._take_fault(rec.route, REPLY_FAULTS) is not None:
            raise _Reset()
        malformed = self._take_fault(rec.route, RESULT_FAULTS)
        if malformed is not None:
            rec.fault = malformed.fault
            wrong = malformed.kw.get("body")
            body = json.dumps(_mistyped(json.loads(body)) if wrong is None else wrong).encode()
        rec.status = 200
        h.send(200, body, "application/json")

    def _transport_fault(self, h: _Handler, rec: RecordedRequest) -> None:
        f = self._take_fault(rec.route, TRANSPORT_FAULTS)
        if f is None:
            return
        rec.fault = f.fault
        if f.fault == "reset":
            h.read_partial_body()
            raise _Reset()
        h.drain_body()
        if f.fault == "stall":
            seconds = f.kw.get("seconds")
            if not h.stall(None if seconds is None else float(seconds)):
                raise _Reset()  # the client left or the fake is stopping
            return  # held long enough: answered as usual
        if f.fault == "429":
            retry_after = int(f.kw.get("retry_after", 1))
            reason = f.kw.get("reason", "too_many_requests")
            raise _Reply(
                429,
                {
                    "error_summary": f"{reason}/...",
                    "error": {"reason": {".tag": reason}, "retry_after": retry_after},
                },
                headers={"Retry-After": str(retry_after)},
            )
        if f.fault in ("500", "503"):
            raise _Reply(
                int(f.fault),
                "Internal Server Error" if f.fault == "500" else ("Service Unavailable"),
                "text/plain; charset=utf-8",
            )
        if f.fault == "expired_token":
            raise _auth_error("expired_access_token")

    def _dispatch(
        self, h: _Handler, rec: RecordedRequest, parsed: urllib.parse.SplitResult
    ) -> None:
        path = parsed.path
        if path == "/oauth2/authorize" and h.command == "GET":
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            rec.args = query
            self._transport_fault(h, rec)
            self._authorize(h, rec, query)
            return
        if h.command != "POST":
            raise _Reply(405, "Method Not Allowed", "text/plain; charset=utf-8")
        if path == "/oauth2/token":
            body = h.read_body_bytes(1024 * 1024)
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            form = {**query, **form}
            rec.args = form
            self._transport_fault(h, rec)
            self._token(h, rec, form)
            return
        if not path.startswith("/2/"):
            raise _Reply(404, "Not Found", "text/plain; charset=utf-8")
        route = rec.route
        spec = _ROUTES.get(route)
        if spec is None:
            raise _bad_input(route, "Unknown API function")
        style, fn_name = spec
        self._transport_fault(h, rec)
        token = self._check_bearer(h.headers.get("Authorization"), route)
        if style == "rpc":
            raw = h.read_body_bytes(8 * 1024 * 1024)
            try:
                args = json.loads(raw.decode("utf-8")) if raw.strip() else None
            except ValueError as e:
                raise _bad_input(route, "could not decode input as JSON") from e
            rec.args = args
            result = getattr(self, fn_name)(args, token)
            body = b"null" if result is None else json.dumps(result).encode()
            self._send_ok(h, rec, body)
            return
        arg_header = h.headers.get("Dropbox-API-Arg")
        if arg_header is None:
            query = dict(urllib.parse.parse_qsl(parsed.query))
            arg_header = query.get("arg")
        if arg_header is None:
            raise _bad_input(route, 'Missing HTTP header "Dropbox-API-Arg".')
        try:
            args = json.loads(arg_header)
        except ValueError as e:
            raise _bad_input(route, 'Could not decode the "Dropbox-API-Arg" header.') from e
        rec.args = args
        if style == "upload":
            received = h.read_upload_body(self._incoming())
            try:
                result = getattr(self, fn_name)(args, received, route)
            finally:
                received.discard()
            self._send_ok(h, rec, json.dumps(result).encode())
            return
        # download
        h.drain_body()
        self._download(h, rec, args)

    # ------------------------------------------------------------------ OAuth
    def _authorize(self, h: _Handler, rec: RecordedRequest, q: dict[str, str]) -> None:
        def page(status: int, title: str, body_html: str) -> _Reply:
            doc = (
                f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head>"
                f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
            )
            return _Reply(status, doc, "text/html; charset=utf-8")

        client_id = q.get("client_id")
        if client_id != self.app_key:
            raise page(400, "Invalid client_id", "<p>Invalid client_id.</p>")
        if q.get("response_type") != "code":
            raise page(400, "Bad request", "<p>Invalid response_type.</p>")
        challenge = q.get("code_challenge")
        if challenge and q.get("code_challenge_method", "plain") != "S256":
            raise page(400, "Bad request", "<p>Unsupported code_challenge_method.</p>")
        redirect_uri = q.get("redirect_uri")
        state = q.get("state")
        if redirect_uri:
            if not (
                redirect_uri.startswith("https://")
                or redirect_uri.startswith(("http://localhost", "http://127.0.0.1"))
            ):
                raise page(400, "Bad request", "<p>Invalid redirect_uri.</p>")
            if self.deny_authorization:
                params = {
                    "error": "access_denied",
                    "error_description": "The user chose not to give your app access to "
                    "their Dropbox account.",
                }
            else:
                params = {"code": self._new_code(client_id, redirect_uri, challenge, q)}
            if state is not None:
                params["state"] = state
            sep = "&" if "?" in redirect_uri else "?"
            location = redirect_uri + sep + urllib.parse.urlencode(params)
            raise _Reply(302, "", "text/html; charset=utf-8", {"Location": location})
        if self.deny_authorization:
            raise page(200, "Access denied", "<p>You chose not to give access.</p>")
        code = self._new_code(client_id, None, challenge, q)
        raise page(
            200,
            "Enter this code into your app",
            f'<p>Enter this code into the app:</p><code id="auth-code">{code}</code>',
        )

    def _new_code(
        self, client_id: str, redirect_uri: str | None, challenge: str | None, q: dict[str, str]
    ) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _AuthCode(
                client_id=client_id,
                redirect_uri=redirect_uri,
                code_challenge=challenge or None,
                token_access_type=q.get("token_access_type"),
                scope=q.get("scope"),
                expires=self.clock() + AUTH_CODE_TTL,
            )
        return code

    def _token(self, h: _Handler, rec: RecordedRequest, form: dict[str, str]) -> None:
        grant = form.get("grant_type")
        if grant == "authorization_code":
            result = self._grant_code(form, h.headers.get("Authorization"))
        elif grant == "refresh_token":
            result = self._grant_refresh(form, h.headers.get("Authorization"))
        elif not grant:
            raise _oauth_error("invalid_request", "No grant_type provided")
        else:
            raise _oauth_error("unsupported_grant_type", f"unknown grant_type {grant!r}")
        rec.status = 200
        h.send(200, json.dumps(result).encode(), "application/json")

    def _grant_code(self, form: dict[str, str], auth_header: str | None) -> JSON:
        client_id, secret_ok = self._client_auth(form, auth_header)
        code = form.get("code")
        if not code:
            raise _oauth_error("invalid_request", "No code provided")
        with self._lock:
            c = self._codes.get(code)
            if c is None or c.client_id != client_id:
                raise _oauth_error("invalid_grant", "code doesn't exist or has expired")
            if c.used:
                raise _oauth_error("invalid_grant", "code has already been used")
            if c.expires <= self.clock():
                raise _oauth_error("invalid_grant", "code doesn't exist or has expired")
            if form.get("redirect_uri") != c.redirect_uri:
                raise _oauth_error("invalid_grant", "redirect_uri mismatch")
            verifier = form.get("code_verifier")
            if c.code_challenge:
                if not verifier:
                    raise _oauth_error("invalid_request", "code_verifier is required")
                digest = hashlib.sha256(verifier.encode("utf-8")).digest()
                expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                if not secrets.compare_digest(expected, c.code_challenge):
                    raise _oauth_error("invalid_grant", "invalid code verifier")
            elif verifier:
                raise _oauth_error("invalid_grant", "invalid code verifier")
            elif not secret_ok:
                raise _oauth_error(
                    "invalid_request", "No auth function available for given request"
                )
            c.used = True
            scope = c.scope or "account_info.read files.content.read files.content.write"
            refresh = None
            if c.token_access_type == "offline":
                refresh = "rt." + secrets.token_urlsafe(32)
                self._refresh_tokens[refresh] = _RefreshToken(
                    client_id, pkce=bool(c.code_challenge), scope=scope
                )
            token, life = self._mint_access_token(client_id, refresh)
        result: JSON = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": life,
            "scope": scope,
            "uid": self.uid,
            "account_id": self.account_id,
        }
        if refresh:
            result["refresh_token"] = refresh
        return result

    def _grant_refresh(self, form: dict[str, str], auth_header: str | None) -> JSON:
        client_id, secret_ok = self._client_auth(form, auth_header)
        token = form.get("refresh_token")
        if not token:
            raise _oauth_error("invalid_request", "No refresh_token provided")
        with self._lock:
            rt = self._refresh_tokens.get(token)
            if rt is None or rt.revoked or rt.client_id != client_id:
                raise _oauth_error("invalid_grant", "refresh token is invalid or revoked")
            if not rt.pkce and not secret_ok:
                raise _oauth_error(
                    "invalid_request", "No auth function available for given request"
                )
            access, life = self._mint_access_token(client_id, token)
            return {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": life,
                "scope": form.get("scope") or rt.scope,
            }

    # ------------------------------------------------------------------ RPC routes
    def _r_revoke(self, args: Any, token: _AccessToken) -> None:
        with self._lock:
            for at in self._access_tokens.values():
                if at is token or (token.refresh_token and at.refresh_token == token.refresh_token):
                    at.revoked = True
            if token.refresh_token and token.refresh_token in self._refresh_tokens:
                self._refresh_tokens[token.refresh_token].revoked = True
        return

    def _r_account(self, args: Any, token: _AccessToken) -> JSON:
        given, _, surname = self.display_name.partition(" ")
        initials = "".join(p[0] for p in self.display_name.split() if p)
        return {
            "account_id": self.account_id,
            "name": {
                "given_name": given,
                "surname": surname,
                "familiar_name": given,
                "display_name": self.display_name,
                "abbreviated_name": initials,
            },
            "email": self.email,
            "email_verified": True,
            "disabled": False,
            "country": "US",
            "locale": "en",
            "referral_link": "https://db.tt/fakeref",
            "is_paired": False,
            "account_type": {".tag": "basic"},
            "root_info": {
                ".tag": "user",
                "root_namespace_id": "3235641",
                "home_namespace_id": "3235641",
            },
        }

    def _r_space(self, args: Any, token: _AccessToken) -> JSON:
        return {
            "used": self.used_bytes(),
            "allocation": {".tag": "individual", "allocated": self.quota_allocated},
        }

    def _lookup_entry(self, path: Any, route: str) -> JSON:
        """Metadata for ``path`` or raise a 409 ``path/<LookupError>``."""
        problem = self._path_problem(path, allow_root=False)
        if problem:
            raise _api_error({".tag": "path", "path": problem})
        low = path.lower()
        with self._lock:
            if low in self._files:
                return self._file_meta(self._files[low])
            if low in self._folders:
                return self._folder_meta(self._folders[low])
        raise _api_error({".tag": "path", "path": {".tag": "not_found"}})

    def _r_get_metadata(self, args: Any, token: _AccessToken) -> JSON:
        path = (args or {}).get("path")
        if path in ("", "/"):
            raise _bad_input(
                "files/get_metadata", "request body: path: The root folder is unsupported."
            )
        return self._lookup_entry(path, "files/get_metadata")

    def _r_list_folder(self, args: Any, token: _AccessToken) -> JSON:
        args = args or {}
        path = args.get("path", "")
        if path == "/":
            raise _bad_input(
                "files/list_folder",
                'request body: path: Specify the root folder as an empty string rather than "/".',
            )
        problem = self._path_problem(path, allow_root=True)
        if problem:
            raise _api_error({".tag": "path", "path": problem})
        low = path.lower()
        recursive = bool(args.get("recursive", False))
        with self._lock:
            if low and low in self._files:
                raise _api_error({".tag": "path", "path": {".tag": "not_folder"}})
            if low and low not in self._folders:
                raise _api_error({".tag": "path", "path": {".tag": "not_found"}})
            entries: list[tuple[str, JSON]] = []
            prefix = low + "/"
            for k, d in self._folders.items():
                if (k == low and recursive) or (
                    k.startswith(prefix) and (recursive or _parent(k) == low)
                ):
                    entries.append((k, self._folder_meta(d)))
            for k, f in self._files.items():
                if k.startswith(prefix) and (recursive or _parent(k) == low):
                    entries.append((k, self._file_meta(f)))
            entries.sort(key=lambda e: e[0])
            limit = args.get("limit")
            page = max(1, min(int(limit), self.list_page_size) if limit else self.list_page_size)
            cursor = "AAF" + secrets.token_urlsafe(24)
            self._cursors[cursor] = [[e for _, e in entries], 0, page]
            return self._page(cursor)

    def _page(self, cursor: str) -> JSON:
        entries, pos, size = self._cursors[cursor]
        chunk = entries[pos : pos + size]
        pos += len(chunk)
        self._cursors[cursor][1] = pos
        return {"entries": chunk, "cursor": cursor, "has_more": pos < len(entries)}

    def _r_list_continue(self, args: Any, token: _AccessToken) -> JSON:
        cursor = (args or {}).get("cursor")
        with self._lock:
            if not isinstance(cursor, str) or cursor not in self._cursors:
                raise _bad_input("files/list_folder/continue", 'Invalid "cursor" parameter')
            return self._page(cursor)

    def _r_create_folder(self, args: Any, token: _AccessToken) -> JSON:
        args = args or {}
        path = args.get("path")
        problem = self._check_write_path(path)
        if problem:
            raise _api_error({".tag": "path", "path": problem})
        with self._lock:
            display = self._display_for(path)
            low = display.lower()
            conflict = self._ancestor_conflict(low)
            if conflict:
                raise _api_error({".tag": "path", "path": conflict})
            if low in self._files or low in self._folders:
                if not args.get("autorename"):
                    kind = "file" if low in self._files else "folder"
                    raise _api_error(
                        {".tag": "path", "path": {".tag": "conflict", "conflict": {".tag": kind}}}
                    )
                display = self._autorename(display)
                low = display.lower()
            self._ensure_parents(display)
            folder = _Folder(display, "id:" + secrets.token_urlsafe(16))
            self._folders[low] = folder
            return {"metadata": self._folder_meta(folder)}

    def _r_delete(self, args: Any, token: _AccessToken) -> JSON:
        meta, err = self._delete((args or {}).get("path"), "files/delete_v2")
        if err:
            raise _api_error(err)
        return {"metadata": meta}

    def _r_delete_batch(self, args: Any, token: _AccessToken) -> JSON:
        out: list[JSON] = []
        for entry in (args or {}).get("entries", []):
            meta, err = self._delete(entry.get("path"), "files/delete_batch")
            if err:
                out.append({".tag": "failure", "failure": err})
            else:
                out.append({".tag": "success", "metadata": meta})
        result = {".tag": "complete", "entries": out}
        if not self.delete_batch_async:
            return result
        job = "dbjid:" + secrets.token_urlsafe(24)
        with self._lock:
            self._jobs[job] = result
        return {".tag": "async_job_id", "async_job_id": job}

    def _r_delete_batch_check(self, args: Any, token: _AccessToken) -> JSON:
        job = (args or {}).get("async_job_id")
        with self._lock:
            if job not in self._jobs:
                raise _api_error({".tag": "invalid_async_job_id"})
            return self._jobs[job]

    # ------------------------------------------------------------------ upload routes
    def _u_upload(self, args: JSON, body: _Body, route: str) -> JSON:
        size, chash = body.size, body.chash
        if size > MAX_UPLOAD_BODY:
            raise _api_error({".tag": "payload_too_large"})
        if self._take_fault(route, {"content_hash_mismatch"}) or (
            args.get("content_hash") and args["content_hash"] != chash
        ):
            raise _api_error({".tag": "content_hash_mismatch"})
        sid = "pid_upload_session:" + secrets.token_urlsafe(16)
        path = args.get("path")
        problem = self._check_write_path(path)
        if problem:
            raise _api_error({".tag": "path", "reason": problem, "upload_session_id": sid})
        tmp = self._incoming()
        stored = self.persist
        if stored:
            body.save(tmp)
        else:
            tmp.touch()  # an empty placeholder: the bytes are hashed, not kept
        try:
            meta, err = self._commit(path, args, tmp, size, chash, route, stored)
        finally:
            tmp.unlink(missing_ok=True)  # gone already when committed
        if err:
            raise _api_error({".tag": "path", "reason": err, "upload_session_id": sid})
        assert meta is not None
        return meta

    def _u_start(self, args: JSON, body: _Body, route: str) -> JSON:
        size, chash = body.size, body.chash
        kind = _tag(args.get("session_type"), "sequential")
        if size > MAX_UPLOAD_BODY:
            raise _api_error({".tag": "payload_too_large"})
        if kind == "concurrent":
            if size:
                raise _api_error({".tag": "concurrent_session_data_not_allowed"})
            if args.get("close"):
                raise _api_error({".tag": "concurrent_session_close_not_allowed"})
        if self._take_fault(route, {"content_hash_mismatch"}) or (
            args.get("content_hash") and args["content_hash"] != chash
        ):
            raise _api_error({".tag": "content_hash_mismatch"})
        sid = "AAAAA" + secrets.token_urlsafe(24)
        data = self.root / "sessions" / sid
        stored = self.persist
        if stored:
            body.save(data)
        else:
            data.touch()
        with self._lock:
            self._sessions[sid] = _Session(
                id=sid,
                kind=kind,
                created=self.clock(),
                file=data,
                size=size,
                closed=bool(args.get("close")),
                hasher=body.hasher if kind == "sequential" else ContentHasher(),
                stored=stored,
            )
        return {"session_id": sid}

    def _session(self, cursor: Any) -> _Session:
        """Look up a live session or raise the route's ``not_found`` error (unwrapped)."""
        sid = cursor.get("session_id") if isinstance(cursor, dict) else None
        s = self._sessions.get(sid or "")
        if s is None:
            raise _LookupFail({".tag": "not_found"})
        if s.created + self.session_ttl <= self.clock():
            self._drop_session(s)
            raise _LookupFail({".tag": "not_found"})
        return s

    def _drop_session(self, s: _Session) -> None:
        self._sessions.pop(s.id, None)
        s.file.unlink(missing_ok=True)
        for p, _ in s.chunks.values():
            p.unlink(missing_ok=True)

    def _correct_offset(self, s: _Session) -> int:
        if s.kind == "sequential":
            return s.size
        return s.end if s.end is not None else sum(n for _, n in s.chunks.values())

    def _u_append(self, args: JSON, body: _Body, route: str) -> None:
        size, chash = body.size, body.chash
        cursor = args.get("cursor") or {}
        offset = int(cursor.get("offset", 0))
        close = bool(args.get("close", False))
        if size > MAX_UPLOAD_BODY:
            raise _api_error({".tag": "payload_too_large"})
        with self._lock:
            try:
                s = self._session(cursor)
            except _LookupFail as e:
                raise _api_error(e.err) from None
            if self._take_fault(route, {"incorrect_offset"}):
                raise _api_error(
                    {".tag": "incorrect_offset", "correct_offset": self._correct_offset(s)}
                )
            if self._take_fault(route, {"content_hash_mismatch"}) or (
                args.get("content_hash") and args["content_hash"] != chash
            ):
                raise _api_error({".tag": "content_hash_mismatch"})
            if s.kind == "sequential":
                if s.closed:
                    raise _api_error({".tag": "closed"})
                if offset != s.size:
                    raise _api_error({".tag": "incorrect_offset", "correct_offset": s.size})
                if s.size + size > MAX_SESSION_SIZE:
                    raise _api_error({".tag": "too_large"})
                if s.stored:
                    with open(s.file, "ab") as out:
                        body.write_to(out)
                body.feed(s.hasher)
                s.size += size
                s.closed = close
                return
            # concurrent
            if s.end is not None and offset >= s.end:
                raise _api_error({".tag": "closed"})
            if offset % BLOCK_SIZE:
                raise _api_error({".tag": "concurrent_session_invalid_offset"})
            if not close and size % BLOCK_SIZE:
                raise _api_error({".tag": "concurrent_session_invalid_data_size"})
            if s.end is not None and offset + size > s.end:
                raise _api_error({".tag": "concurrent_session_invalid_data_size"})
            if offset + size > MAX_SESSION_SIZE:
                raise _api_error({".tag": "too_large"})
            self._store_chunk(s, offset, body)
            if close:
                s.end = offset + size
                s.closed = True
            return

    def _store_chunk(self, s: _Session, offset: int, body: _Body) -> None:
        """Keep a concurrent session's chunk (replacing one at the same offset).

        While chunks never overlap they are written into ``s.file`` at their offsets, so a
        finish whose chunks tile the file renames it into place.  The first chunk that
        overlaps another (or replaces one with a different size) moves every chunk into a
        file of its own, as the finish then concatenates them all in offset order.
        """
        size = body.size
        if not s.stored:
            # persist=False: only the block digests, combined in offset order at finish
            s.chunks[offset] = (s.file, size)
            s.digests[offset] = body.hasher.block_digests()
            return
        if s.shared and any(
            (off == offset and n != size)
            or (off != offset and off < offset + size and offset < off + n)
            for off, (_, n) in s.chunks.items()
        ):
            self._unshare(s)
        if s.shared:
            with open(s.file, "r+b") as out:
                out.seek(offset)
                body.write_to(out)
            s.chunks[offset] = (s.file, size)
        else:
            chunk = self.root / "sessions" / f"{s.id}.{offset}"
            body.save(chunk)
            s.chunks[offset] = (chunk, size)
        s.digests[offset] = body.hasher.block_digests()

    def _unshare(self, s: _Session) -> None:
        with open(s.file, "rb") as src:
            for off, (_, n) in list(s.chunks.items()):
                chunk = self.root / "sessions" / f"{s.id}.{off}"
                with open(chunk, "wb") as out:
                    _copy_range(src.fileno(), out.fileno(), off, n)
                s.chunks[off] = (chunk, n)
        with open(s.file, "r+b") as f:
            f.truncate(0)
        s.shared = False

    def _u_finish(self, args: JSON, body: _Body, route: str) -> JSON:
        size, chash = body.size, body.chash
        cursor = args.get("cursor") or {}
        offset = int(cursor.get("offset", 0))
        commit = args.get("commit") or {}
        if size > MAX_UPLOAD_BODY:
            raise _api_error({".tag": "payload_too_large"})
        with self._lock:
            try:
                s = self._session(cursor)
            except _LookupFail as e:
                raise _api_error({".tag": "lookup_failed", "lookup_failed": e.err}) from None

            def lookup_failed(err: JSON) -> _Reply:
                return _api_error({".tag": "lookup_failed", "lookup_failed": err})

            if self._take_fault(route, {"incorrect_offset"}):
                raise lookup_failed(
                    {".tag": "incorrect_offset", "correct_offset": self._correct_offset(s)}
                )
            if self._take_fault(route, {"content_hash_mismatch"}) or (
                args.get("content_hash") and args["content_hash"] != chash
            ):
                raise _api_error({".tag": "content_hash_mismatch"})
            assembled = self._incoming()
            if s.kind == "sequential":
                if offset != s.size:
                    raise lookup_failed({".tag": "incorrect_offset", "correct_offset": s.size})
                if s.closed and size:
                    raise lookup_failed({".tag": "closed"})
                if size and s.stored:
                    with open(s.file, "ab") as out:
                        body.write_to(out)
                total = s.size + size
                path = commit.get("path")
                problem = self._check_write_path(path)
                if problem:
                    self._restore_after_failed_finish(s, size)
                    raise _api_error({".tag": "path", "path": problem})
                hasher = s.hasher.copy()
                body.feed(hasher)
                total_hash = hasher.hexdigest()
                os.replace(s.file, assembled)  # back into the session if the commit fails
                renamed = True
            else:
                if size:
                    raise _api_error({".tag": "concurrent_session_data_not_allowed"})
                if s.end is None:
                    raise _api_error({".tag": "concurrent_session_not_closed"})
                pos = 0
                tiled = True
                for off in sorted(s.chunks):
                    if off != pos:
                        tiled = False
                        break
                    pos += s.chunks[off][1]
                if pos != s.end:
                    raise _api_error({".tag": "concurrent_session_missing_data"})
                if offset != s.end:
                    raise lookup_failed({".tag": "incorrect_offset", "correct_offset": s.end})
                total = s.end
                path = commit.get("path")
                problem = self._check_write_path(path)
                if problem:
                    raise _api_error({".tag": "path", "path": problem})
                if not s.stored:
                    offs = sorted(s.chunks)
                    if any(s.chunks[off][1] % BLOCK_SIZE for off in offs[:-1]):
                        raise _Reply(
                            500,
                            "fake (persist=False): a chunk before the last is not a "
                            "multiple of 4 MiB, its digests cannot be combined",
                            "text/plain; charset=utf-8",
                        )
                    total_hash = _combine([d for off in offs for d in s.digests[off]])
                    os.replace(s.file, assembled)  # the empty placeholder
                    renamed = True
                elif tiled and s.shared and s.file.stat().st_size == total:
                    # the chunks tile the file exactly: their block digests are the file's
                    total_hash = _combine([d for off in sorted(s.chunks) for d in s.digests[off]])
                    os.replace(s.file, assembled)
                    renamed = True
                else:
                    renamed = False
                    # all chunks in offset order, gaps and overlaps included (as before)
                    self._concatenate(s, assembled)
                    total_hash = file_content_hash(assembled)
            meta, err = self._commit(path, commit, assembled, total, total_hash, route, s.stored)
            if err:
                if renamed:
                    os.replace(assembled, s.file)
                else:
                    assembled.unlink(missing_ok=True)
                self._restore_after_failed_finish(s, size)
                raise _api_error({".tag": "path", "path": err})
            self._drop_session(s)
            assert meta is not None
            return meta

    def _concatenate(self, s: _Session, dest: Path) -> None:
        with open(dest, "wb") as out:
            for off in sorted(s.chunks):
                src, n = s.chunks[off]
                with open(src, "rb") as f:
                    _copy_range(f.fileno(), out.fileno(), off if s.shared else 0, n)

    def _restore_after_failed_finish(self, s: _Session, appended: int) -> None:
        """A failed commit leaves the session as it was, so the client may retry finish."""
        if s.kind == "sequential" and appended and s.stored:
            with open(s.file, "r+b") as f:
                f.truncate(s.size)

    # ------------------------------------------------------------------ download
    def _download(self, h: _Handler, rec: RecordedRequest, args: JSON) -> None:
        path = args.get("path")
        problem = self._path_problem(path, allow_root=False)
        if problem:
            raise _api_error({".tag": "path", "path": problem})
        with self._lock:
            entry = self._files.get(path.lower())
            if entry is None:
                if path.lower() in self._folders:
                    raise _api_error({".tag": "path", "path": {".tag": "not_file"}})
                raise _api_error({".tag": "path", "path": {".tag": "not_found"}})
            if args.get("rev") and args["rev"] != entry.rev:
                raise _api_error({".tag": "path", "path": {".tag": "not_found"}})
            if not entry.stored:
                raise _Reply(
                    500,
                    f"fake: {entry.path_display} was uploaded with persist=False, "
                    "its bytes were not kept",
                    "text/plain; charset=utf-8",
                )
            meta = self._file_meta(entry)
            blob = entry.blob
            mangle = entry.mangle_downloads != 0
            if entry.mangle_downloads > 0:
                entry.mangle_downloads -= 1
            # snapshot bytes source: hold a hard link/copy so concurrent overwrites are safe
            snap = self._incoming()
            try:
                os.link(blob, snap)
            except OSError:
                shutil.copyfile(blob, snap)
        try:
            size = snap.stat().st_size
            start, end = 0, size - 1
            status = 200
            headers = {
                "Dropbox-API-Result": json.dumps(meta, ensure_ascii=True),
                "Accept-Ranges": "bytes",
                "ETag": f'W/"{meta["rev"]}"',
            }
            rng = h.headers.get("Range")
            if rng:
                parsed = _parse_range(rng, size)
                if parsed is None:
                    raise _Reply(
                        416,
                        "Requested Range Not Satisfiable",
                        "text/plain; charset=utf-8",
                        {"Content-Range": f"bytes */{size}"},
                    )
                start, end = parsed
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            length = max(0, end - start + 1)
            rec.status = status
            h.send_stream(status, snap, start, length, headers, mangle=mangle)
        finally:
            snap.unlink(missing_ok=True)


class _LookupFail(Exception):
    def __init__(self, err: JSON) -> None:
        super().__init__(err)
        self.err = err


def _mistyped(value: Any) -> Any:
    """``value`` with every field of the wrong JSON type (union tags kept)."""
    if isinstance(value, dict):
        return {k: v if k == ".tag" else _wrong_type(v) for k, v in value.items()}
    return {"unexpected": _wrong_type(value)}


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, str):
        return 12345
    if isinstance(value, int | float):
        return "many"
    return "not an object"  # dict, list, None


def _auth_error(tag: str) -> _Reply:
    return _Reply(401, {"error_summary": f"{tag}/...", "error": {".tag": tag}})


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _norm_route(path: str) -> str:
    r = path.split("?", 1)[0].strip("/")
    if r.startswith("2/"):
        r = r[2:]
    return r or "*"


_ROUTES: dict[str, tuple[str, str]] = {
    "auth/token/revoke": ("rpc", "_r_revoke"),
    "users/get_current_account": ("rpc", "_r_account"),
    "users/get_space_usage": ("rpc", "_r_space"),
    "files/get_metadata": ("rpc", "_r_get_metadata"),
    "files/list_folder": ("rpc", "_r_list_folder"),
    "files/list_folder/continue": ("rpc", "_r_list_continue"),
    "files/create_folder_v2": ("rpc", "_r_create_folder"),
    "files/delete_v2": ("rpc", "_r_delete"),
    "files/delete_batch": ("rpc", "_r_delete_batch"),
    "files/delete_batch/check": ("rpc", "_r_delete_batch_check"),
    "files/upload": ("upload", "_u_upload"),
    "files/upload_session/start": ("upload", "_u_start"),
    "files/upload_session/append_v2": ("upload", "_u_append"),
    "files/upload_session/finish": ("upload", "_u_finish"),
    "files/download": ("download", ""),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY a response written as headers + body waits for the client's
    # delayed ACK (~40 ms a request on loopback), which a benchmark would take for latency.
    disable_nagle_algorithm = True
    server_version = "FakeDropbox/1.0"
    sys_version = ""
    timeout = 60
    server: _Server
    _headers_buffer: list[bytes]  # BaseHTTPRequestHandler's, filled by send_response

    def setup(self) -> None:
        super().setup()
        self._body_left: int | None = None
        self._chunked = False
        self._waited = False
        self.trickle: tuple[float, str] | None = None  # (interval, part) of a trickle fault
        self._body_started = 0.0  # when the current request's body began (monotonic)
        self._body_got = 0  # its bytes read so far, for fake.rate_limit

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._run()

    def do_POST(self) -> None:
        self._run()

    def do_PUT(self) -> None:
        self._run()

    def _run(self) -> None:
        te = self.headers.get("Transfer-Encoding", "").lower()
        self._chunked = "chunked" in te
        self._body_left = None if self._chunked else int(self.headers.get("Content-Length") or 0)
        self._chunk_left = 0
        self._chunks_done = False
        self._waited = False
        self.trickle = None
        self._body_started = time.monotonic()
        self._body_got = 0
        try:
            self.server.fake._handle(self)
        except _Reset:
            self._abort()
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            self.close_connection = True
        except Exception:
            # A bug in the fake: answer 500 so the test sees it rather than hanging.
            import traceback

            traceback.print_exc()
            with contextlib.suppress(Exception):
                self.drain_body()
                self.send(500, "fake server error", "text/plain")
            self.close_connection = True

    def round_trip(self) -> None:
        """Wait ``fake.latency`` once per request: after its body, before any response."""
        if self._waited:
            return
        self._waited = True
        latency = self.server.fake.latency
        if latency > 0:
            time.sleep(latency)

    def pace(self, n: int) -> None:
        """Count `n` more body bytes; under ``fake.rate_limit``, sleep until they are due."""
        self._body_got += n
        rate = self.server.fake.rate_limit
        if rate > 0:
            due = self._body_started + self._body_got / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def stall(self, seconds: float | None) -> bool:
        """Hold the connection without answering; True when ``seconds`` ran out first,
        False when the client went away or the fake is stopping."""
        stopping = self.server.stopping
        until = None if seconds is None else time.monotonic() + seconds
        self.connection.settimeout(0.1)
        try:
            while not stopping.is_set():
                if until is not None and time.monotonic() >= until:
                    return True
                try:
                    if not self.connection.recv(1):
                        return False  # the client closed its end
                except TimeoutError:
                    continue
                except (OSError, ssl.SSLError):
                    return False
            return False
        finally:
            with contextlib.suppress(OSError):
                self.connection.settimeout(self.timeout)

    def _write(self, data: bytes, trickle: bool) -> None:
        """Write ``data``; under a trickle fault, one byte every ``interval`` seconds."""
        if not trickle or self.trickle is None:
            self.wfile.write(data)
            return
        interval = self.trickle[0]
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            if self.server.stopping.wait(interval):
                raise ConnectionError("the fake is stopping")

    def _abort(self) -> None:
        self.round_trip()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()

    def finish(self) -> None:
        with contextlib.suppress(Exception):
            super().finish()

    # --- body reading -------------------------------------------------------
    def _read_some(self, n: int) -> bytes:
        if not self._chunked:
            left = self._body_left or 0
            if left <= 0:
                return b""
            data = self.rfile.read(min(n, left))
            if not data:
                raise ConnectionError("client went away")
            self._body_left = left - len(data)
            self.pace(len(data))
            return data
        if self._chunks_done:
            return b""
        if self._chunk_left == 0:
            line = self.rfile.readline(65537).strip()
            size = int(line.split(b";", 1)[0] or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537).strip():
                    pass
                self._chunks_done = True
                return b""
            self._chunk_left = size
        data = self.rfile.read(min(n, self._chunk_left))
        if not data:
            raise ConnectionError("client went away")
        self._chunk_left -= len(data)
        self.pace(len(data))
        if self._chunk_left == 0:
            self.rfile.readline(65537)
        return data

    def iter_body(self) -> Iterator[bytes]:
        while chunk := self._read_some(IO_CHUNK):
            yield chunk
        self.round_trip()

    def read_body_bytes(self, limit: int) -> bytes:
        buf = bytearray()
        for chunk in self.iter_body():
            buf += chunk
            if len(buf) > limit:
                self.drain_body()
                raise _Reply(413, "Request body too large", "text/plain")
        return bytes(buf)

    def read_upload_body(self, spill: Path) -> _Body:
        """Receive the whole body, hashing it as it arrives (the only hash of these bytes).

        A body with a Content-Length up to ``MEMORY_BODY_LIMIT`` is read straight into one
        buffer; a larger or chunked one is streamed to ``spill``.
        """
        hasher = ContentHasher()
        if not self._chunked and (self._body_left or 0) <= MEMORY_BODY_LIMIT:
            size = self._body_left or 0
            buf = bytearray(size)
            view = memoryview(buf)
            pos = 0
            while pos < size:
                n = self.rfile.readinto(view[pos : pos + IO_CHUNK])
                if not n:
                    raise ConnectionError("client went away")
                hasher.update(view[pos : pos + n])
                pos += n
                self.pace(n)
            self._body_left = 0
            self.round_trip()
            return _Body(hasher, size, buf, None)
        size = 0
        try:
            with open(spill, "wb") as f:
                for chunk in self.iter_body():
                    hasher.update(chunk)
                    f.write(chunk)
                    size += len(chunk)
        except BaseException:
            spill.unlink(missing_ok=True)
            raise
        return _Body(hasher, size, None, spill)

    def drain_body(self) -> None:
        for _ in self.iter_body():
            pass

    def read_partial_body(self) -> None:
        total = self._body_left if not self._chunked else None
        want = 65536 if total is None else min(65536, max(1, total // 2))
        got = 0
        while got < want:
            data = self._read_some(want - got)
            if not data:
                break
            got += len(data)

    # --- responses -----------------------------------------------------------
    def _common_headers(self) -> None:
        self.send_header("X-Dropbox-Request-Id", secrets.token_hex(16))
        self.send_header("Cache-Control", "no-cache")

    def send(
        self,
        status: int,
        body: bytes | str | JSON | None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(body, dict):
            payload = json.dumps(body).encode()
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            payload = body.encode("utf-8")
        else:
            payload = body or b""
        self.round_trip()
        self.send_response(status)
        self._common_headers()
        if content_type:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # end_headers() without its own write: headers and body leave in one write
        self._headers_buffer.append(b"\r\n")
        if self.trickle is not None:
            head = b"".join(self._headers_buffer)
            self._headers_buffer = []
            self._write(head, trickle=self.trickle[1] == "headers")
            self._write(payload, trickle=True)
            return
        self._headers_buffer.append(payload)
        self.flush_headers()
        self.wfile.flush()

    def send_stream(
        self,
        status: int,
        src: Path,
        start: int,
        length: int,
        headers: dict[str, str],
        *,
        mangle: bool = False,
    ) -> None:
        extra = b"\x00" if mangle and length == 0 else b""
        self.round_trip()
        self.send_response(status)
        self._common_headers()
        self.send_header("Content-Type", "application/octet-stream")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(length + len(extra)))
        if self.trickle is not None:
            self._headers_buffer.append(b"\r\n")
            head = b"".join(self._headers_buffer)
            self._headers_buffer = []
            self._write(head, trickle=self.trickle[1] == "headers")
        else:
            self.end_headers()
        with open(src, "rb") as f:
            f.seek(start)
            left = length
            first = True
            while left > 0:
                data = f.read(min(IO_CHUNK, left))
                if not data:
                    break
                if mangle and first:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                first = False
                self._write(data, trickle=True)
                left -= len(data)
        if extra:
            self._write(extra, trickle=True)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], fake: FakeDropbox) -> None:
        self.fake = fake
        self.stopping = threading.Event()  # set by FakeDropbox.stop()
        self.ctx = fake.tls.server_context()
        self._conns: set[ssl.SSLSocket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            conn = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            with contextlib.suppress(OSError):
                request.close()
            return
        with self._conns_lock:
            self._conns.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except Exception:
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------------- SDK plumbing
_HOST_CONSTANTS = ("API_HOST", "API_CONTENT_HOST", "API_NOTIFICATION_HOST", "WEB_HOST")
_CA_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def point_sdk_at(fake: FakeDropbox, monkeypatch: Any = None) -> Callable[[], None]:
    """Point the already-imported Dropbox SDK in *this* process at ``fake``.

    Patches the host constants in every loaded ``dropbox.*`` module, the two default arguments
    that captured ``API_HOST`` at import time, and the env vars from ``fake.env()`` (including
    ``REQUESTS_CA_BUNDLE``, which requests prefers over the SDK's ``ca_certs``).  With a pytest
    ``monkeypatch`` everything is undone at test teardown; otherwise call the returned ``undo``.
    Create ``dropbox.Dropbox`` objects *after* calling this (they copy hosts in ``__init__``).
    """
    import sys

    import dropbox.dropbox_client
    import dropbox.oauth
    import dropbox.session

    undo: list[Callable[[], None]] = []

    def setattr_(obj: Any, name: str, value: Any) -> None:
        if monkeypatch is not None:
            monkeypatch.setattr(obj, name, value)
            return
        old = getattr(obj, name)
        setattr(obj, name, value)
        undo.append(lambda: setattr(obj, name, old))

    def setenv(name: str, value: str) -> None:
        if monkeypatch is not None:
            monkeypatch.setenv(name, value)
            return
        old = os.environ.get(name)
        os.environ[name] = value

        def restore() -> None:
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old

        undo.append(restore)

    host = fake.host
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or not (mod_name == "dropbox" or mod_name.startswith("dropbox.")):
            continue
        for const in _HOST_CONSTANTS:
            if isinstance(getattr(mod, const, None), str):
                setattr_(mod, const, host)

    transport = dropbox.dropbox_client._DropboxTransport.refresh_access_token
    defaults = list(transport.__defaults__ or ())
    if defaults:
        defaults[0] = host
        setattr_(transport, "__defaults__", tuple(defaults))
    build_url = dropbox.oauth.DropboxOAuth2FlowBase.build_url
    defaults = list(build_url.__defaults__ or ())
    if defaults:
        defaults[-1] = host
        setattr_(build_url, "__defaults__", tuple(defaults))

    for name, value in fake.env().items():
        setenv(name, value)

    def run_undo() -> None:
        while undo:
            undo.pop()()

    return run_undo
