"""The Dropbox provider: the only module that imports the dropbox SDK.

It builds clients from a refresh token (so short-lived access tokens refresh
themselves, even mid-upload), turns SDK results into `models` and SDK
exceptions into `errors` at this one boundary, and offers the upload-session
primitives the transfer engine drives. The SDK's own retries are turned off
(it retries HTTP 429 forever by default); `retry.RetryPolicy` bounds them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, BinaryIO, TypeVar

import dropbox
import requests
from dropbox import exceptions as dbx_exc
from dropbox import files as dbx_files

from .. import __version__, errors
from ..models import RemoteFile
from ..retry import RetryPolicy
from .base import Progress, SourceFile, Space, Stored, no_progress

T = TypeVar("T")
LIST_PAGE = 2000
DELETE_BATCH = 1000
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Credentials:
    app_key: str
    app_secret: str | None
    refresh_token: str

    def __repr__(self) -> str:
        return f"Credentials(app_key={self.app_key!r}, app_secret=***, refresh_token=***)"


@dataclass(frozen=True)
class Account:
    account_id: str
    email: str
    name: str


def make_client(
    creds: Credentials, *, ca_certs: str | None = None, timeout: float = TIMEOUT_S
) -> dropbox.Dropbox:
    return dropbox.Dropbox(
        oauth2_refresh_token=creds.refresh_token,
        app_key=creds.app_key,
        app_secret=creds.app_secret or None,
        max_retries_on_error=0,  # our RetryPolicy retries, bounded
        max_retries_on_rate_limit=0,  # the SDK's default (None) retries 429 forever
        timeout=timeout,
        ca_certs=ca_certs,
        auto_content_hash=False,  # we always send our own hash, computed once per block
        user_agent=f"fermentrack-backup/{__version__}",
    )


# error conversion ------------------------------------------------------------------


def _tags(error: Any) -> tuple[list[str], Any]:
    """The chain of union tags of a stone error (like Dropbox's error_summary) and its leaf."""
    tags: list[str] = []
    node = error
    for _ in range(8):
        tag = getattr(node, "_tag", None)
        if tag is None:
            if hasattr(node, "reason"):  # UploadWriteFailed wraps a WriteError
                node = node.reason
                continue
            break
        tags.append(str(tag))
        value = getattr(node, "_value", None)
        if value is None:
            break
        node = value
    return tags, node


def convert_api_error(exc: dbx_exc.ApiError, what: str) -> errors.BackupError:
    tags, leaf = _tags(exc.error)
    summary = "/".join(tags) or "error"
    if "incorrect_offset" in tags:
        return errors.IncorrectOffset(int(leaf.correct_offset))
    if "insufficient_space" in tags or "upload_traffic_limit_reached" in tags:
        return errors.InsufficientSpace(
            f"Dropbox is full: cannot store {what}",
            "free space in Dropbox (or run `fermentrack-backup prune`), then run again",
        )
    if "too_many_write_operations" in tags:
        return errors.Transient(
            f"Dropbox is busy with other writes ({what})",
            code="too_many_write_operations",
            retry_after=1.0,
        )
    if "content_hash_mismatch" in tags:
        return errors.ContentHashMismatch(
            f"Dropbox received damaged data for {what} (content hash mismatch)",
            "the network corrupted data in transit; run again",
        )
    if "conflict" in tags:
        return errors.RemoteConflict(
            f"{what} already exists at Dropbox with different content",
            "pass --overwrite to replace it",
        )
    if "disallowed_name" in tags or "malformed_path" in tags:
        return errors.RemoteNameError(
            f"Dropbox does not allow the name {what} ({summary})",
            "rename the archive (no trailing dots/spaces, at most 255 characters)",
        )
    if "no_write_permission" in tags or "access_restricted" in tags:
        return errors.PermissionDenied(
            f"Dropbox refused to write {what} ({summary})",
            "check the app's permissions (files.content.write)",
        )
    if (
        tags
        and tags[0] in ("not_found", "closed", "lookup_failed")
        and ("not_found" in tags or "closed" in tags)
    ):
        return errors.SessionGone(f"the upload session for {what} is gone ({summary})")
    if "not_found" in tags:
        return errors.NotFound(
            f"not found at Dropbox: {what}",
            "list stored backups with `fermentrack-backup remote ls`",
        )
    return errors.BackupError(f"Dropbox refused {what}: {summary}", None, code="dropbox_api")


def convert(exc: Exception, what: str) -> errors.BackupError:
    """Map any SDK or network exception to our hierarchy; never includes tokens."""
    if isinstance(exc, errors.BackupError):
        return exc
    if isinstance(exc, dbx_exc.ApiError):
        return convert_api_error(exc, what)
    if isinstance(exc, dbx_exc.RateLimitError):
        reason = getattr(getattr(exc, "error", None), "reason", None)
        tag = getattr(reason, "_tag", None) or "too_many_requests"
        return errors.Transient(
            f"Dropbox rate limit ({tag}) while {what}", code=str(tag), retry_after=exc.backoff
        )
    if isinstance(exc, dbx_exc.InternalServerError):
        return errors.Transient(
            f"Dropbox server error {exc.status_code} while {what}", code="server_error"
        )
    if isinstance(exc, dbx_exc.AuthError):
        tag = getattr(exc.error, "_tag", None)
        if tag in ("invalid_access_token", "expired_access_token", "user_suspended"):
            return errors.NeedsRelink(
                "Dropbox no longer accepts this connection's token (revoked, app removed or "
                "permissions changed)",
                "run `fermentrack-backup link dropbox` again; the connection and its history "
                "are kept",
            )
        return errors.AuthError(
            f"Dropbox refused the request ({tag}) while {what}",
            "check the app's permissions, then link again",
        )
    if isinstance(exc, dbx_exc.BadInputError):
        if "invalid_client" in (exc.message or ""):
            return errors.AuthError(
                "Dropbox rejected the app key or secret (invalid_client)",
                "check dropbox.app_key / dropbox.app_secret (DROPBOX_APP_KEY/DROPBOX_APP_SECRET)",
                code="invalid_client",
            )
        return errors.BackupError(
            f"Dropbox rejected the request while {what}", None, code="bad_input"
        )
    if isinstance(exc, requests.exceptions.SSLError) and _cert_failure(exc):
        return errors.NetworkError(
            f"TLS verification failed talking to Dropbox while {what}",
            "behind a proxy with its own CA, set REQUESTS_CA_BUNDLE or SSL_CERT_FILE",
            code="tls",
        )
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        # the SDK's token refresh raises plain HTTPError for some /oauth2/token answers
        status = exc.response.status_code
        if status < 500 and status != 429:
            return token_error(status, _json_or_empty(exc.response), None)
    # any other transport failure (a reset, even mid-TLS as SSLEOFError) is worth retrying
    if isinstance(exc, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return errors.Transient(
            f"connection lost while {what} ({type(exc).__name__})",
            "check the network connection",
            code="network",
        )
    raise exc


def _cert_failure(exc: BaseException) -> bool:
    """Whether a TLS error is a failed certificate check (not a dropped connection)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ssl.SSLCertVerificationError):
            return True
        todo.extend([getattr(node, "reason", None), node.__cause__, node.__context__])
        todo.extend(a for a in getattr(node, "args", ()) if isinstance(a, BaseException))
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


@contextlib.contextmanager
def converting(what: str) -> Iterator[None]:
    try:
        yield
    except (dbx_exc.DropboxException, requests.exceptions.RequestException) as exc:
        # RequestException subclasses OSError, so it is caught first and by name
        raise convert(exc, what) from None
    except (ConnectionError, TimeoutError) as exc:
        raise convert(exc, what) from None


def to_remote(md: Any) -> RemoteFile:
    modified = md.server_modified
    if modified is not None and modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return RemoteFile(md.name, md.path_display, md.size, md.content_hash, modified)


# the target ------------------------------------------------------------------------


class DropboxTarget:
    """A connection's folder inside the Dropbox app folder."""

    provider_id = "dropbox"

    def __init__(
        self,
        client: dropbox.Dropbox,
        remote_folder: str,
        retry: RetryPolicy,
        uploader: Callable[[DropboxTarget, SourceFile, bool, Progress], Stored] | None = None,
    ) -> None:
        self.client = client
        self.folder = remote_folder.rstrip("/")
        self.retry = retry
        self._uploader = uploader

    @property
    def description(self) -> str:
        return f"Dropbox:{self.folder}"

    def remote_path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    def call(self, what: str, func: Callable[[], T]) -> T:
        """One API call, converted and retried within the policy."""

        def attempt() -> T:
            with converting(what):
                return func()

        return self.retry.call(attempt, what)

    # account ---------------------------------------------------------------------

    def account(self) -> Account:
        acct = self.call("reading the account", self.client.users_get_current_account)
        return Account(acct.account_id, acct.email, acct.name.display_name)

    def space(self) -> Space:
        usage = self.call("reading space usage", self.client.users_get_space_usage)
        alloc = usage.allocation
        allocated = None
        if alloc.is_individual():
            allocated = alloc.get_individual().allocated
        elif alloc.is_team():
            allocated = alloc.get_team().allocated
        return Space(used=usage.used, allocated=allocated)

    def refresh(self) -> None:
        """Force a token refresh now (status/doctor check the token really works)."""
        self.call("refreshing the access token", self.client.refresh_access_token)

    def revoke(self) -> None:
        self.call("revoking the token", self.client.auth_token_revoke)

    # files -----------------------------------------------------------------------

    def list_files(self) -> Iterator[RemoteFile]:
        try:
            result = self.call(
                f"listing {self.folder}",
                lambda: self.client.files_list_folder(self.folder, limit=LIST_PAGE),
            )
        except errors.NotFound:
            return
        while True:
            for entry in result.entries:
                if isinstance(entry, dbx_files.FileMetadata):
                    yield to_remote(entry)
            if not result.has_more:
                return
            result = self.call(
                f"listing {self.folder}",
                functools.partial(self.client.files_list_folder_continue, result.cursor),
            )

    def stat(self, name: str) -> RemoteFile | None:
        path = self.remote_path(name)
        try:
            md = self.call(f"reading {path}", lambda: self.client.files_get_metadata(path))
        except errors.NotFound:
            return None
        return to_remote(md) if isinstance(md, dbx_files.FileMetadata) else None

    def ensure_folder(self) -> None:
        with contextlib.suppress(errors.RemoteConflict):
            self.call(
                f"creating {self.folder}", lambda: self.client.files_create_folder_v2(self.folder)
            )

    def open_read(self, name: str, offset: int = 0) -> BinaryIO:
        path = self.remote_path(name)
        headers = {"Range": f"bytes={offset}-"} if offset else None
        _, response = self.call(
            f"downloading {path}",
            lambda: self.client.files_download(path, extra_headers=headers),
        )
        if offset and response.status_code != 206:
            response.close()
            raise errors.Transient(f"Dropbox ignored the range request for {path}")
        return io.BufferedReader(_ResponseStream(response, path), buffer_size=1 << 20)

    def delete(self, names: Sequence[str]) -> list[str]:
        if len(names) == 1:
            path = self.remote_path(names[0])
            try:
                self.call(f"deleting {path}", lambda: self.client.files_delete_v2(path))
            except errors.NotFound:
                return []
            return list(names)
        deleted: list[str] = []
        for start in range(0, len(names), DELETE_BATCH):
            deleted.extend(self._delete_batch(names[start : start + DELETE_BATCH]))
        return deleted

    def _delete_batch(self, names: Sequence[str]) -> list[str]:
        entries = [dbx_files.DeleteArg(self.remote_path(n)) for n in names]
        launch = self.call("deleting old backups", lambda: self.client.files_delete_batch(entries))
        deadline = time.monotonic() + 300
        status: Any = launch
        if launch.is_async_job_id():
            job = launch.get_async_job_id()
            status = self.call(
                "waiting for deletion", lambda: self.client.files_delete_batch_check(job)
            )
            while status.is_in_progress():
                if time.monotonic() > deadline:
                    raise errors.NetworkError(
                        "Dropbox did not finish deleting within 5 minutes",
                        "run prune again later",
                        code="timeout",
                    )
                time.sleep(0.2)
                status = self.call(
                    "waiting for deletion", lambda: self.client.files_delete_batch_check(job)
                )
        if not status.is_complete():
            raise errors.BackupError(
                "Dropbox could not delete the old backups", None, code="delete_failed"
            )
        result = status.get_complete()
        return [n for n, entry in zip(names, result.entries, strict=False) if entry.is_success()]

    def upload(
        self, source: SourceFile, *, overwrite: bool, progress: Progress = no_progress
    ) -> Stored:
        if self._uploader is None:
            raise errors.UsageError("uploading to Dropbox is not available in this build", None)
        return self._uploader(self, source, overwrite, progress)

    # upload-session primitives for the transfer engine --------------------------------

    def _mode(self, overwrite: bool) -> dbx_files.WriteMode:
        return dbx_files.WriteMode.overwrite if overwrite else dbx_files.WriteMode.add

    def upload_small(
        self, data: bytes, name: str, content_hash: str, overwrite: bool
    ) -> RemoteFile:
        path = self.remote_path(name)
        with converting(path):
            md = self.client.files_upload(
                data,
                path,
                mode=self._mode(overwrite),
                strict_conflict=False,
                content_hash=content_hash,
            )
        return to_remote(md)

    def session_start(
        self, data: bytes, content_hash: str | None, *, concurrent: bool, close: bool = False
    ) -> str:
        session_type = dbx_files.UploadSessionType.concurrent if concurrent else None
        with converting("starting an upload session"):
            result = self.client.files_upload_session_start(
                data,
                close=close,
                session_type=session_type,
                content_hash=content_hash if data else None,
            )
        return str(result.session_id)

    def session_append(
        self, session_id: str, offset: int, data: bytes, content_hash: str | None, *, close: bool
    ) -> None:
        cursor = dbx_files.UploadSessionCursor(session_id, offset)
        with converting(f"uploading at offset {offset}"):
            self.client.files_upload_session_append_v2(
                data, cursor, close=close, content_hash=content_hash
            )

    def session_finish(
        self,
        session_id: str,
        offset: int,
        data: bytes,
        content_hash: str | None,
        name: str,
        overwrite: bool,
    ) -> RemoteFile:
        path = self.remote_path(name)
        cursor = dbx_files.UploadSessionCursor(session_id, offset)
        commit = dbx_files.CommitInfo(path, mode=self._mode(overwrite), strict_conflict=False)
        with converting(path):
            md = self.client.files_upload_session_finish(
                data, cursor, commit, content_hash=content_hash
            )
        return to_remote(md)


class _ResponseStream(io.RawIOBase):
    """A raw stream over a streamed download; network errors become Transient."""

    def __init__(self, response: requests.Response, path: str) -> None:
        super().__init__()
        self.response = response
        self.path = path
        response.raw.decode_content = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.response.raw.read(len(buffer))
        except Exception:  # urllib3 ProtocolError/ReadTimeoutError mid-body
            raise errors.Transient(
                f"connection lost while downloading {self.path}", code="network"
            ) from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.response.close()
        super().close()


# OAuth: authorize URL, code exchange, token-endpoint errors --------------------------
#
# The SDK's DropboxOAuth2FlowBase builds the authorize URL (honouring DROPBOX_WEB_HOST)
# and gives us its pinned requests session. Its `_finish` sends only the PKCE verifier
# when PKCE is on; a confidential app (with a secret) should authenticate too, so the
# exchange posts the form itself: code_verifier always, client_secret when configured.

OAUTH_TIMEOUT_S = 30.0
_RESTART = "run `fermentrack-backup link dropbox` again and use the new code within 10 minutes"


@dataclass(frozen=True)
class TokenGrant:
    """What a successful code exchange returns; only `refresh_token` is ever stored."""

    refresh_token: str
    account_id: str | None

    def __repr__(self) -> str:
        return f"TokenGrant(refresh_token=***, account_id={self.account_id!r})"


def _oauth_flow(app_key: str, app_secret: str | None, ca_certs: str | None, timeout: float) -> Any:
    from dropbox.oauth import DropboxOAuth2FlowBase

    return DropboxOAuth2FlowBase(
        app_key,
        app_secret or None,
        token_access_type="offline",  # noqa: S106  # an OAuth mode, not a password
        use_pkce=True,  # the flow's own verifier is unused: ours comes from auth.session
        timeout=timeout,
        ca_certs=ca_certs,
    )


def authorize_url(
    app_key: str, *, redirect_uri: str | None, state: str | None, code_challenge: str
) -> str:
    """The /oauth2/authorize address: offline access, PKCE S256, optional redirect."""
    flow = _oauth_flow(app_key, None, None, OAUTH_TIMEOUT_S)
    return str(
        flow._get_authorize_url(redirect_uri, state, "offline", code_challenge=code_challenge)
    )


def exchange_code(
    app_key: str,
    app_secret: str | None,
    code: str,
    *,
    redirect_uri: str | None,
    code_verifier: str,
    ca_certs: str | None = None,
    timeout: float = OAUTH_TIMEOUT_S,
) -> TokenGrant:
    """Trade an authorization code for a refresh token (PKCE, plus the secret if any)."""
    flow = _oauth_flow(app_key, app_secret, ca_certs, timeout)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": app_key,
        "code_verifier": code_verifier,
    }
    if app_secret:
        form["client_secret"] = app_secret
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    try:
        resp = flow.requests_session.post(
            flow.build_url("/oauth2/token"), data=form, timeout=timeout
        )
    except requests.exceptions.RequestException as exc:
        raise _oauth_network_error(exc) from None
    if resp.status_code != 200:
        raise token_error(resp.status_code, _json_or_empty(resp), redirect_uri)
    body = _json_or_empty(resp)
    refresh = body.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise errors.AuthError(
            "Dropbox did not return a refresh token",
            "the app must allow offline access; " + _RESTART,
            code="no_refresh_token",
        )
    account = body.get("account_id")
    return TokenGrant(refresh, account if isinstance(account, str) else None)


def _json_or_empty(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def token_error(status: int, body: dict[str, Any], redirect_uri: str | None) -> errors.BackupError:
    """An /oauth2/token failure as one of our errors; never echoes the request."""
    error = str(body.get("error") or "")
    description = str(body.get("error_description") or "")
    if "redirect_uri" in description or error == "invalid_redirect_uri":
        shown = redirect_uri or "(none)"
        return errors.AuthError(
            f"Dropbox refused the redirect URI {shown}",
            f"add exactly {shown} (trailing slash included) under OAuth 2 > Redirect URIs "
            "in the Dropbox app console, or use --no-browser",
            code="invalid_redirect_uri",
        )
    if error == "invalid_grant":
        return errors.AuthError(
            "the code is invalid or already used", _RESTART, code="invalid_grant"
        )
    if error == "invalid_client":
        return errors.AuthError(
            "Dropbox rejected the app key or secret (invalid_client)",
            "check dropbox.app_key / dropbox.app_secret (DROPBOX_APP_KEY/DROPBOX_APP_SECRET) "
            "against the app console",
            code="invalid_client",
        )
    if status >= 500 or status == 429:
        return errors.NetworkError(
            f"Dropbox's token endpoint answered HTTP {status}",
            "try again in a few minutes",
            code="server_error",
        )
    name = "".join(c for c in error if c.isalnum() or c in "_.-")[:64] or f"HTTP {status}"
    return errors.AuthError(f"Dropbox refused the code exchange ({name})", _RESTART)


def _oauth_network_error(exc: requests.exceptions.RequestException) -> errors.NetworkError:
    if isinstance(exc, requests.exceptions.SSLError):
        return errors.NetworkError(
            "TLS verification failed talking to Dropbox",
            "behind a proxy with its own CA, set REQUESTS_CA_BUNDLE or SSL_CERT_FILE",
            code="tls",
        )
    return errors.NetworkError(
        f"cannot reach Dropbox to finish linking ({type(exc).__name__})",
        "check the network connection (and HTTPS_PROXY / NO_PROXY), then link again",
        code="network",
    )
