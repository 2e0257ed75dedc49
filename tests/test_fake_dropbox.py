"""The fake Dropbox server, driven by the real Dropbox SDK over real HTTPS."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dropbox
import pytest
import requests
from dropbox import files
from dropbox.content_hash import content_hash as sdk_content_hash
from dropbox.exceptions import ApiError, AuthError, BadInputError, RateLimitError
from dropbox.oauth import DropboxOAuth2Flow, DropboxOAuth2FlowNoRedirect
from dropbox.stone_validators import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.dropbox_server import FakeDropbox, content_hash_of, point_sdk_at

MiB = 1024 * 1024


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDropbox]:
    with FakeDropbox(tmp_path / "dbx") as f:
        point_sdk_at(f, monkeypatch)
        yield f


def make_client(fake: FakeDropbox, **kw: Any) -> dropbox.Dropbox:
    token = kw.pop("refresh_token", None) or fake.issue_refresh_token()
    return dropbox.Dropbox(
        oauth2_refresh_token=token,
        app_key=fake.app_key,
        app_secret=fake.app_secret,
        ca_certs=str(fake.ca_path),
        max_retries_on_rate_limit=0,
        max_retries_on_error=0,
        timeout=10,
        **kw,
    )


def follow_authorize(fake: FakeDropbox, url: str) -> requests.Response:
    assert url.startswith(f"https://{fake.host}/oauth2/authorize?")
    return requests.get(url, allow_redirects=False, verify=str(fake.ca_path), timeout=10)


# ---------------------------------------------------------------------------- OAuth


@pytest.mark.parametrize("use_pkce", [True, False])
def test_code_flow_with_redirect(fake: FakeDropbox, use_pkce: bool) -> None:
    session: dict[str, str] = {}
    flow = DropboxOAuth2Flow(
        fake.app_key,
        redirect_uri="http://localhost:53682/callback",
        session=session,
        csrf_token_session_key="csrf",
        consumer_secret=None if use_pkce else fake.app_secret,
        token_access_type="offline",
        use_pkce=use_pkce,
        ca_certs=str(fake.ca_path),
    )
    resp = follow_authorize(fake, flow.start("my-state"))
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("http://localhost:53682/callback?")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    result = flow.finish(query)
    assert result.url_state == "my-state"
    assert result.account_id == fake.account_id
    assert result.refresh_token
    authorize = fake.requests_to("oauth2/authorize")[0]
    assert authorize.args["token_access_type"] == "offline"
    assert ("code_challenge" in authorize.args) is use_pkce

    # the code is single-use
    with pytest.raises(requests.HTTPError):
        flow._finish(query["code"], flow.redirect_uri, flow.code_verifier)

    dbx = dropbox.Dropbox(
        oauth2_refresh_token=result.refresh_token,
        app_key=fake.app_key,
        app_secret=None if use_pkce else fake.app_secret,
        ca_certs=str(fake.ca_path),
    )
    assert dbx.users_get_current_account().email == fake.email


def test_pkce_verifier_must_match(fake: FakeDropbox) -> None:
    flow = DropboxOAuth2FlowNoRedirect(
        fake.app_key, use_pkce=True, token_access_type="offline", ca_certs=str(fake.ca_path)
    )
    page = follow_authorize(fake, flow.start())
    code = re.search(r'<code id="auth-code">([^<]+)</code>', page.text)
    assert code
    flow.code_verifier = "x" * 64
    with pytest.raises(requests.HTTPError) as exc:
        flow.finish(code.group(1))
    assert exc.value.response.json()["error"] == "invalid_grant"


def test_no_redirect_flow(fake: FakeDropbox) -> None:
    flow = DropboxOAuth2FlowNoRedirect(
        fake.app_key,
        consumer_secret=fake.app_secret,
        token_access_type="offline",
        ca_certs=str(fake.ca_path),
    )
    page = follow_authorize(fake, flow.start())
    assert page.status_code == 200
    code = re.search(r'<code id="auth-code">([^<]+)</code>', page.text)
    assert code
    result = flow.finish(code.group(1))
    assert result.refresh_token and result.access_token
    assert result.expires_at is not None


def test_deny_and_unknown_client(fake: FakeDropbox) -> None:
    fake.deny_authorization = True
    session: dict[str, str] = {}
    flow = DropboxOAuth2Flow(
        fake.app_key,
        "http://localhost:1/cb",
        session,
        "csrf",
        consumer_secret=fake.app_secret,
        ca_certs=str(fake.ca_path),
    )
    resp = follow_authorize(fake, flow.start())
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(resp.headers["Location"]).query))
    assert query["error"] == "access_denied"
    with pytest.raises(dropbox.oauth.NotApprovedException):
        flow.finish(query)
    bad = DropboxOAuth2FlowNoRedirect("nope", "secret", ca_certs=str(fake.ca_path))
    assert follow_authorize(fake, bad.start()).status_code == 400


def test_refresh_after_short_lifetime(fake: FakeDropbox) -> None:
    fake.access_token_lifetime = 2
    dbx = make_client(fake)
    dbx.users_get_current_account()
    assert len(fake.requests_to("oauth2/token")) == 1
    # The SDK refreshes proactively (expiry buffer 300 s > 2 s), so every call refreshes.
    dbx.users_get_current_account()
    assert len(fake.requests_to("oauth2/token")) == 2


def test_expired_token_401_path_refreshes(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    dbx.users_get_current_account()
    fake.expire_access_tokens()  # the SDK still believes its token is fresh
    usage = dbx.users_get_space_usage()
    assert usage.allocation.get_individual().allocated == fake.quota_allocated
    statuses = [(r.route, r.status) for r in fake.requests]
    assert ("users/get_space_usage", 401) in statuses
    assert statuses[-1] == ("users/get_space_usage", 200)
    fake.inject("users/get_current_account", "expired_token")
    dbx.users_get_current_account()


def test_revoked_token_auth_error_on_refresh(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    dbx.users_get_current_account()
    fake.revoke_all_tokens()
    with pytest.raises(AuthError) as exc:
        dbx.refresh_access_token()
    assert exc.value.error.is_invalid_access_token()
    with pytest.raises(AuthError):
        make_client(fake, refresh_token=dbx._oauth2_refresh_token).users_get_current_account()


def test_token_revoke_route_and_bad_secret(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    dbx.auth_token_revoke()
    with pytest.raises(AuthError):
        dbx.refresh_access_token()
    wrong = dropbox.Dropbox(
        oauth2_refresh_token=fake.issue_refresh_token(),
        app_key=fake.app_key,
        app_secret="wrong",
        ca_certs=str(fake.ca_path),
    )
    with pytest.raises(BadInputError, match="invalid_client"):
        wrong.users_get_current_account()


# ---------------------------------------------------------------------------- uploads


def test_upload_small_file_hash_matches_sdk(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    data = os.urandom(5 * MiB + 123)
    meta = dbx.files_upload(data, "/Backups/Brew 1.tar.gz", mode=files.WriteMode.add)
    assert meta.content_hash == sdk_content_hash(data) == content_hash_of(data)
    assert meta.size == len(data)
    assert meta.path_display == "/Backups/Brew 1.tar.gz"
    assert meta.path_lower == "/backups/brew 1.tar.gz"
    assert fake.read_file("/backups/BREW 1.tar.gz") == data
    # same content again in add mode: Dropbox answers with the existing file
    again = dbx.files_upload(data, "/backups/brew 1.tar.gz")
    assert again.rev == meta.rev
    with pytest.raises(ApiError) as exc:
        dbx.files_upload(b"other", "/backups/brew 1.tar.gz")
    assert exc.value.error.get_path().reason.get_conflict().is_file()
    assert dbx.users_get_space_usage().used == len(data)


def test_upload_content_hash_and_quota_errors(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    with pytest.raises(ApiError) as exc:
        dbx.files_upload(b"abc", "/a.bin", content_hash="0" * 64)
    assert exc.value.error.is_content_hash_mismatch()
    fake.quota_allocated = 10
    with pytest.raises(ApiError) as exc:
        dbx.files_upload(b"x" * 11, "/big.bin")
    assert exc.value.error.get_path().reason.is_insufficient_space()
    with pytest.raises(ApiError) as exc:
        dbx.files_upload(b"x", "/dir/desktop.ini")
    assert exc.value.error.get_path().reason.is_disallowed_name()
    with pytest.raises(ApiError) as exc:
        dbx.files_upload(b"x", "/" + "n" * 256)
    assert exc.value.error.get_path().reason.is_malformed_path()


def test_upload_session_sequential_with_incorrect_offset(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    data = os.urandom(9 * MiB)
    chunk = 4 * MiB
    start = dbx.files_upload_session_start(data[:chunk])
    cursor = files.UploadSessionCursor(start.session_id, chunk)
    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_append_v2(
            data[chunk : 2 * chunk], files.UploadSessionCursor(start.session_id, 1)
        )
    assert exc.value.error.get_incorrect_offset().correct_offset == chunk
    fake.inject("files/upload_session/append_v2", "incorrect_offset")
    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_append_v2(data[chunk : 2 * chunk], cursor)
    assert exc.value.error.get_incorrect_offset().correct_offset == chunk
    dbx.files_upload_session_append_v2(data[chunk : 2 * chunk], cursor)
    cursor.offset = 2 * chunk
    commit = files.CommitInfo("/Seq.bin", mode=files.WriteMode.overwrite)
    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_finish(
            data[2 * chunk :], files.UploadSessionCursor(start.session_id, 3), commit
        )
    assert exc.value.error.get_lookup_failed().get_incorrect_offset().correct_offset == 2 * chunk
    meta = dbx.files_upload_session_finish(data[2 * chunk :], cursor, commit)
    assert meta.content_hash == sdk_content_hash(data)
    assert fake.read_file("/seq.bin") == data
    # the session is gone after finish
    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_append_v2(b"x", files.UploadSessionCursor(start.session_id, 0))
    assert exc.value.error.is_not_found()


def test_upload_session_concurrent(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    block = 4 * MiB
    data = os.urandom(2 * block + 777)
    sid = dbx.files_upload_session_start(
        b"", session_type=files.UploadSessionType.concurrent
    ).session_id
    offsets = [0, block, 2 * block]

    def send(off: int) -> None:
        close = off == offsets[-1]
        dbx.files_upload_session_append_v2(
            data[off : off + block], files.UploadSessionCursor(sid, off), close=close
        )

    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_append_v2(b"short", files.UploadSessionCursor(sid, 0))
    assert exc.value.error.is_concurrent_session_invalid_data_size()
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(send, reversed(offsets)))
    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_append_v2(b"x" * block, files.UploadSessionCursor(sid, 3 * block))
    assert exc.value.error.is_closed()
    meta = dbx.files_upload_session_finish(
        b"", files.UploadSessionCursor(sid, len(data)), files.CommitInfo("/conc.bin")
    )
    assert meta.size == len(data)
    assert meta.content_hash == sdk_content_hash(data)


def test_session_expiry(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    fake.session_ttl = 0.2
    sid = dbx.files_upload_session_start(b"abc").session_id
    time.sleep(0.3)
    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_finish(
            b"", files.UploadSessionCursor(sid, 3), files.CommitInfo("/x")
        )
    assert exc.value.error.get_lookup_failed().is_not_found()


# ---------------------------------------------------------------------------- listing, etc.


def test_list_folder_pagination(fake: FakeDropbox) -> None:
    for i in range(250):
        fake.put_file(f"/Archive/f{i:03d}.txt", b"%d" % i)
    fake.put_file("/Archive/sub/inner.txt", b"inner")
    dbx = make_client(fake)
    res = dbx.files_list_folder("/archive")
    names = [e.name for e in res.entries]
    pages = 1
    while res.has_more:
        res = dbx.files_list_folder_continue(res.cursor)
        names += [e.name for e in res.entries]
        pages += 1
    assert pages == 3
    assert len(names) == 251 and "sub" in names
    assert len(fake.requests_to("files/list_folder/continue")) == 2
    assert isinstance(dbx.files_get_metadata("/archive/sub"), files.FolderMetadata)
    with pytest.raises(ApiError) as exc:
        dbx.files_list_folder("/missing")
    assert exc.value.error.get_path().is_not_found()


def test_folders_and_deletes(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    dbx.files_create_folder_v2("/Keep")
    with pytest.raises(ApiError) as exc:
        dbx.files_create_folder_v2("/keep")
    assert exc.value.error.get_path().get_conflict().is_folder()
    fake.put_file("/Keep/a", b"a")
    fake.put_file("/Keep/b", b"b")
    assert dbx.files_delete_v2("/keep/a").metadata.name == "a"
    launch = dbx.files_delete_batch([files.DeleteArg("/keep/b"), files.DeleteArg("/nope")])
    status = dbx.files_delete_batch_check(launch.get_async_job_id())
    entries = status.get_complete().entries
    assert entries[0].is_success()
    assert entries[1].get_failure().get_path_lookup().is_not_found()
    assert fake.file_paths() == []


def test_download_with_range_and_tampering(fake: FakeDropbox) -> None:
    data = os.urandom(3 * MiB)
    fake.put_file("/dl.bin", data)
    dbx = make_client(fake)
    meta, resp = dbx.files_download("/dl.bin")
    assert resp.content == data and meta.content_hash == content_hash_of(data)
    _, resp = dbx.files_download("/dl.bin", extra_headers={"Range": "bytes=100-"})
    assert resp.status_code == 206 and resp.content == data[100:]
    _, resp = dbx.files_download("/dl.bin", extra_headers={"Range": "bytes=10-19"})
    assert resp.content == data[10:20]
    fake.download_hash_mismatch("/dl.bin", times=1)
    meta, resp = dbx.files_download("/dl.bin")
    assert content_hash_of(resp.content) != meta.content_hash
    fake.corrupt("/dl.bin")
    meta, resp = dbx.files_download("/dl.bin")
    assert len(resp.content) == len(data)
    assert content_hash_of(resp.content) != meta.content_hash


# ---------------------------------------------------------------------------- faults


def test_429_surfaces_as_rate_limit_error(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    fake.inject("files/upload", "429", retry_after=1, reason="too_many_write_operations")
    with pytest.raises(RateLimitError) as exc:
        dbx.files_upload(b"x", "/r.bin")
    assert exc.value.backoff == 1
    assert exc.value.error.reason.is_too_many_write_operations()
    assert dbx.files_upload(b"x", "/r.bin").size == 1


def test_server_errors_and_reset(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    fake.inject("users/get_current_account", "503")
    with pytest.raises(dropbox.exceptions.InternalServerError):
        dbx.users_get_current_account()
    fake.inject("files/upload", "reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        dbx.files_upload(os.urandom(2 * MiB), "/reset.bin")
    assert not fake.exists("/reset.bin")
    fake.inject("files/upload_session/finish", "insufficient_space")
    sid = dbx.files_upload_session_start(b"abc").session_id
    commit = files.CommitInfo("/q.bin")
    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_finish(b"", files.UploadSessionCursor(sid, 3), commit)
    assert exc.value.error.get_path().is_insufficient_space()
    fake.inject("files/upload_session/finish", "content_hash_mismatch")
    with pytest.raises(ApiError) as exc:
        dbx.files_upload_session_finish(b"", files.UploadSessionCursor(sid, 3), commit)
    assert exc.value.error.is_content_hash_mismatch()
    meta = dbx.files_upload_session_finish(b"", files.UploadSessionCursor(sid, 3), commit)
    assert meta.size == 3
    assert fake.pending_faults() == []


def test_subprocess_env_points_sdk(fake: FakeDropbox) -> None:
    env = fake.env()
    assert env["DROPBOX_API_HOST"] == env["DROPBOX_WEB_HOST"] == fake.host
    assert env["REQUESTS_CA_BUNDLE"] == str(fake.ca_path)
    assert fake.host == f"127.0.0.1:{fake.port}"


def test_subprocess_sdk_uses_env(fake: FakeDropbox) -> None:
    token = fake.issue_refresh_token()
    script = (
        "import dropbox, sys\n"
        "dbx = dropbox.Dropbox(oauth2_refresh_token=sys.argv[1], app_key=sys.argv[2],\n"
        "                      app_secret=sys.argv[3], max_retries_on_error=0)\n"
        "print(dbx.users_get_current_account().email)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, token, fake.app_key, fake.app_secret],
        env={**os.environ, **fake.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == fake.email
    assert [r.route for r in fake.requests] == ["oauth2/token", "users/get_current_account"]


def test_stop_is_prompt_with_open_keepalive_connections(tmp_path: Path) -> None:
    fake = FakeDropbox(tmp_path / "dbx").start()
    session = requests.Session()
    url = f"{fake.base_url}/2/users/get_current_account"
    # a per-request verify= is not overridden by REQUESTS_CA_BUNDLE (Session.verify would be)
    r = session.post(url, data="null", verify=str(fake.ca_path), timeout=5)
    assert r.status_code == 400  # no Authorization header; the connection stays open
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 3
    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(url, data="null", verify=str(fake.ca_path), timeout=2)
    fake.stop()  # idempotent


def test_latency_and_request_log(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    dbx.users_get_current_account()
    fake.latency = 0.2
    started = time.monotonic()
    dbx.users_get_space_usage()
    assert time.monotonic() - started >= 0.2
    last = fake.requests[-1]
    assert (last.method, last.path, last.route, last.status) == (
        "POST",
        "/2/users/get_space_usage",
        "users/get_space_usage",
        200,
    )


def test_rate_limit_per_connection(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    dbx.users_get_current_account()  # the token refresh is not paced into the timing
    fake.rate_limit = 4 * MiB  # bytes per second per connection
    data = os.urandom(2 * MiB)
    started = time.monotonic()
    dbx.files_upload(data, "/paced.bin")
    assert time.monotonic() - started >= 0.45  # 2 MiB at 4 MiB/s: at least 0.5 s
    fake.rate_limit = 0
    started = time.monotonic()
    dbx.files_upload(data, "/free.bin")
    assert time.monotonic() - started < 0.45
    assert fake.read_file("/paced.bin") == data


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=2))
def test_content_hash_matches_sdk(tail: bytes, blocks: int) -> None:
    data = b"\x5a" * (blocks * 4 * MiB) + tail
    assert content_hash_of(data) == sdk_content_hash(data)


def test_code_binding_and_expiry(fake: FakeDropbox) -> None:
    def authorize(redirect_uri: str) -> str:
        flow = DropboxOAuth2Flow(
            fake.app_key,
            redirect_uri,
            {},
            "csrf",
            consumer_secret=fake.app_secret,
            token_access_type="offline",
            ca_certs=str(fake.ca_path),
        )
        location = follow_authorize(fake, flow.start()).headers["Location"]
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))["code"]

    flow = DropboxOAuth2FlowNoRedirect(fake.app_key, fake.app_secret, ca_certs=str(fake.ca_path))
    code = authorize("http://localhost:1/a")
    with pytest.raises(requests.HTTPError) as exc:
        flow._finish(code, "http://localhost:1/b", None)
    assert exc.value.response.json()["error"] == "invalid_grant"
    code = authorize("http://localhost:1/a")
    now = time.time()
    fake.clock = lambda: now + 601
    with pytest.raises(requests.HTTPError):
        flow._finish(code, "http://localhost:1/a", None)


def test_bad_cursor_and_range(fake: FakeDropbox) -> None:
    fake.put_file("/r.bin", b"0123456789")
    dbx = make_client(fake)
    with pytest.raises(BadInputError):
        dbx.files_list_folder_continue("AAFnot-a-cursor")
    with pytest.raises(dropbox.exceptions.HttpError) as exc:
        dbx.files_download("/r.bin", extra_headers={"Range": "bytes=10-"})
    assert exc.value.status_code == 416
    _, resp = dbx.files_download("/r.bin", extra_headers={"Range": "bytes=-3"})
    assert resp.content == b"789"


# ---------------------------------------------------------------------------- slow servers


def raw_request(fake: FakeDropbox, route: str, body: bytes = b"null") -> ssl.SSLSocket:
    """A TLS socket that has sent one authorised RPC request; the caller reads the answer."""
    token = fake.issue_access_token()
    ctx = ssl.create_default_context(cafile=str(fake.ca_path))
    raw = socket.create_connection(("127.0.0.1", fake.port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    head = (
        f"POST /2/{route} HTTP/1.1\r\nHost: {fake.host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def read_answer(sock: ssl.SSLSocket) -> tuple[list[bytes], bytes]:
    """Every TLS read until the answer is complete (the fake writes 1 byte per record when
    trickling) and the whole answer."""
    pieces: list[bytes] = []
    data = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            break
        pieces.append(piece)
        data += piece
        head, sep, body = data.partition(b"\r\n\r\n")
        match = re.search(rb"Content-Length: (\d+)", head)
        if sep and match and len(body) >= int(match.group(1)):
            break
    return pieces, data


def test_a_stalled_request_gets_no_answer_and_is_not_carried_out(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    dbx.users_get_current_account()  # the token refresh, before the fault
    fake.inject("files/create_folder_v2", "stall")
    client = dbx.clone(timeout=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.files_create_folder_v2("/stalled")
    assert not fake.exists("/stalled")
    (request,) = fake.requests_to("files/create_folder_v2")
    assert (request.status, request.fault) == (None, "stall")
    assert dbx.files_create_folder_v2("/stalled").metadata.name == "stalled"


def test_a_stall_with_seconds_answers_late_but_normally(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    dbx.users_get_current_account()
    fake.inject("users/get_space_usage", "stall", seconds=0.3)
    started = time.monotonic()
    assert dbx.users_get_space_usage().used == 0
    assert time.monotonic() - started >= 0.3
    assert fake.requests_to("users/get_space_usage")[0].status == 200


@pytest.mark.parametrize("part", ["body", "headers"])
def test_a_trickled_answer_arrives_one_byte_at_a_time(fake: FakeDropbox, part: str) -> None:
    fake.inject("users/get_space_usage", "trickle", interval=0.001, part=part)
    sock = raw_request(fake, "users/get_space_usage")
    with sock:
        pieces, data = read_answer(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["used"] == 0
    if part == "headers":
        assert set(map(len, pieces)) == {1}
    else:
        assert len(pieces[0]) > 1  # the headers came at once
        assert pieces[-len(body) :] == [bytes([b]) for b in body]
    assert fake.requests_to("users/get_space_usage")[0].fault == "trickle"


def test_a_trickled_download_still_delivers_every_byte(fake: FakeDropbox) -> None:
    fake.put_file("/t.bin", b"trickled bytes")
    dbx = make_client(fake)
    fake.inject("files/download", "trickle", interval=0.001)
    _, resp = dbx.files_download("/t.bin")
    assert resp.content == b"trickled bytes"


def test_stop_is_prompt_while_requests_stall_or_trickle(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    fake = FakeDropbox(tmp_path / "dbx").start()
    fake.inject("users/get_space_usage", "stall")
    fake.inject("users/get_current_account", "trickle", interval=30)
    errors: list[BaseException] = []

    def ask(route: str) -> None:
        try:
            with raw_request(fake, route) as sock:
                read_answer(sock)
        except BaseException as exc:  # the test only needs to see the call end
            errors.append(exc)

    threads = [
        threading.Thread(target=ask, args=(r,), daemon=True)
        for r in ("users/get_space_usage", "users/get_current_account")
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(fake.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fake.requests) == 2
    started = time.monotonic()
    fake.stop()
    stopped_in = time.monotonic() - started
    for t in threads:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in threads), "a client still waits after stop()"
    assert stopped_in < 3
    handlers = [t for t in set(threading.enumerate()) - before if "process_request" in t.name]
    for t in handlers:
        t.join(timeout=5)
    assert not [t for t in handlers if t.is_alive()], "a handler thread outlived stop()"


def test_a_malformed_result_cannot_be_decoded_by_the_sdk(fake: FakeDropbox) -> None:
    dbx = make_client(fake)
    fake.inject("users/get_space_usage", "malformed")
    with pytest.raises(ValidationError):
        dbx.users_get_space_usage()
    fake.inject("users/get_current_account", "malformed", body={"account_id": 7})
    with pytest.raises(ValidationError):
        dbx.users_get_current_account()
    assert dbx.users_get_space_usage().used == 0  # one answer each
