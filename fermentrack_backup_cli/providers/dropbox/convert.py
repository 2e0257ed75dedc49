"""SDK and network exceptions -> our error hierarchy, at this one boundary.

Nothing raised from here contains a token: messages name the operation, never
the request.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import requests
from dropbox import exceptions as dbx_exc
from dropbox.stone_validators import ValidationError

from ... import errors

RELINK_HINT = "run `fermentrack-backup link dropbox` again and use the new code within 10 minutes"


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


BUSY_HINT = "Dropbox is busy or failing for now: run again later"
"""A retried failure's hint, if the retries run out (retry.py gives its own, usually)."""


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
            BUSY_HINT,
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
        return errors.SessionGone(
            f"the upload session for {what} is gone ({summary})",
            "run again: the upload starts over in a new session",
        )
    if "not_found" in tags or "not_file" in tags:  # (not_file: a folder of that name)
        return errors.NotFound(
            f"not found at Dropbox: {what}",
            "list stored backups with `fermentrack-backup remote ls`",
        )
    return errors.BackupError(
        f"Dropbox refused {what}: {summary}",
        "run again with --debug to see Dropbox's answer; if it stays, report it with that",
        code="dropbox_api",
    )


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
            f"Dropbox rate limit ({tag}) while {what}",
            BUSY_HINT,
            code=str(tag),
            retry_after=exc.backoff,
        )
    if isinstance(exc, dbx_exc.InternalServerError):
        return errors.Transient(
            f"Dropbox server error {exc.status_code} while {what}", BUSY_HINT, code="server_error"
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
            f"Dropbox rejected the request while {what} (HTTP 400: bad input)",
            "run again with --debug to see Dropbox's answer; if it stays, report it with that",
            code="bad_input",
        )
    if isinstance(exc, dbx_exc.HttpError):  # any other HTTP status (408, a proxy's 407...)
        status = exc.status_code
        if status == 429:  # a rate limit the SDK did not recognise as one
            return errors.Transient(
                f"Dropbox answered HTTP 429 while {what}", BUSY_HINT, code="too_many_requests"
            )
        if status in (408, 425) or status >= 500:
            return errors.Transient(
                f"Dropbox answered HTTP {status} while {what}", BUSY_HINT, code="server_error"
            )
        return errors.NetworkError(
            f"unexpected HTTP {status} from Dropbox while {what}",
            "a proxy may be in the way: check HTTPS_PROXY / NO_PROXY",
            code="http_error",
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
    if isinstance(exc, requests.exceptions.ReadTimeout):
        # the server took the request and went silent: a stall, not a dropped connection
        waited = _READ_TIMEOUT.search(str(exc))
        within = f"no answer in {float(waited.group(1)):g} s" if waited else "no answer in time"
        return errors.Transient(
            f"Dropbox stopped answering while {what} ({within}: the connection stalled)",
            "check the network connection",
            code="stalled",
        )
    # any other transport failure (a reset, even mid-TLS as SSLEOFError) is worth retrying
    if isinstance(exc, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        if (why := _never_connected(exc)) is not None:  # not "lost": there was none
            return errors.Transient(
                f"could not connect to Dropbox while {what} ({why})",
                "check the network connection",
                code="network",
            )
        return errors.Transient(
            f"connection lost while {what} ({type(exc).__name__})",
            "check the network connection",
            code="network",
        )
    raise exc


_READ_TIMEOUT = re.compile(r"read timeout=(\d+(?:\.\d)?)")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps (causes, contexts, urllib3's `reason`, exceptions in args)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        node = todo.pop()
        if not isinstance(node, BaseException) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        todo.extend([getattr(node, "reason", None), node.__cause__, node.__context__])
        todo.extend(a for a in getattr(node, "args", ()) if isinstance(a, BaseException))


def _cert_failure(exc: BaseException) -> bool:
    """Whether a TLS error is a failed certificate check (not a dropped connection)."""
    if any(isinstance(node, ssl.SSLCertVerificationError) for node in _chain(exc)):
        return True
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _never_connected(exc: BaseException) -> str | None:
    """Why no connection was made at all (refused, a name that does not resolve, a
    connect timeout), or None: it was made, then lost."""
    for node in _chain(exc):
        if isinstance(node, ConnectionRefusedError):
            return "connection refused"
        if isinstance(node, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(node, requests.exceptions.ConnectTimeout):
            return "timed out connecting"
    return None


@contextlib.contextmanager
def converting(what: str) -> Iterator[None]:
    try:
        yield
    except (dbx_exc.DropboxException, requests.exceptions.RequestException) as exc:
        # RequestException subclasses OSError, so it is caught first and by name
        raise convert(exc, what) from None
    except (ConnectionError, TimeoutError) as exc:
        raise convert(exc, what) from None
    except AssertionError:  # the SDK asserts on a non-JSON error body (a proxy's page)
        raise errors.NetworkError(
            f"an answer that is not from Dropbox while {what}",
            "a proxy may be in the way: check HTTPS_PROXY / NO_PROXY",
            code="http_error",
        ) from None
    except (ValidationError, json.JSONDecodeError) as exc:
        # a 200 whose result does not fit the API's types, or is not JSON at all
        raise bad_response(exc, what) from None


def bad_response(exc: Exception, what: str) -> errors.BadResponse:
    """An answer the SDK could not decode; names the field, never echoes a value."""
    parents = getattr(exc, "_parents", None)
    field = ".".join(reversed(parents)) if isinstance(parents, list) else ""
    field = re.sub(r"[^A-Za-z0-9_.]", "", field)[:64]
    where = f" (at {field})" if field else ""
    return errors.BadResponse(
        f"Dropbox sent an answer that cannot be read while {what}{where}",
        "try again later; if it keeps happening, a proxy may be altering HTTPS traffic "
        "(check HTTPS_PROXY / NO_PROXY), or a newer fermentrack-backup may be needed",
    )


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
            "the code is invalid or already used", RELINK_HINT, code="invalid_grant"
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
    return errors.AuthError(f"Dropbox refused the code exchange ({name})", RELINK_HINT)
