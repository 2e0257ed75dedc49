"""A pending OAuth authorization: state, PKCE verifier, expiry, and its one-use store.

`new_pending` starts an attempt; the CLI sends the user to the provider with the state
and the S256 code challenge; completion (loopback callback or a pasted code) must present
the same state within ten minutes. `PendingStore` keeps the attempt between two commands
(`link --no-browser`, then paste) in a 0600 file that `consume` claims and deletes, so an
attempt can be completed at most once.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .. import errors
from ..fsutil import atomic_write

PENDING_TTL_SECONDS = 600.0
# A clock that jumped backwards by more than this makes the attempt's age meaningless.
_CLOCK_SLACK_SECONDS = 60.0
_STORE_VERSION = 1

AGAIN = "the link command"  # what to run again; callers name it (`fermentrack-backup link X`)
PASTE_HINT = (
    "paste the code shown after you click Allow, "
    "or the whole address your browser was sent to (it contains ?code=...&state=...)"
)


def restart_hint(again: str = AGAIN) -> str:
    return f"the link attempt expired or came from another attempt: run {again} again"


# RFC 6749 codes and states are printable ASCII; ours and the providers' are URL-safe.
TRUNCATED_HINT = (
    "copy the whole line again (a terminal that wraps a long line copies only part of it)"
)
MIN_CODE_LENGTH = 20
"""Authorization codes are long (Dropbox's are 43 characters); a much shorter paste is a
piece of one."""
_CODE_RE = re.compile(r"[A-Za-z0-9._~+/=-]{1,2048}")
_ERROR_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]")
_QUERY_START_RE = re.compile(r"(code|state|error)=")


def code_challenge_s256(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, repr=False)
class PendingAuth:
    """One authorization attempt. `state` and `code_verifier` are secrets."""

    state: str
    code_verifier: str
    redirect_uri: str | None  # None: the no-redirect flow where the user pastes the code
    created_at: float

    @property
    def code_challenge(self) -> str:
        return code_challenge_s256(self.code_verifier)

    def expired(self, now: float | None = None) -> bool:
        age = (time.time() if now is None else now) - self.created_at
        return age > PENDING_TTL_SECONDS or age < -_CLOCK_SLACK_SECONDS

    def __repr__(self) -> str:
        return (
            f"PendingAuth(state=<redacted>, code_verifier=<redacted>, "
            f"redirect_uri={self.redirect_uri!r}, created_at={self.created_at!r})"
        )


def new_pending(redirect_uri: str | None, *, now: float | None = None) -> PendingAuth:
    return PendingAuth(
        state=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(48),  # 48 bytes -> 64 characters
        redirect_uri=redirect_uri,
        created_at=time.time() if now is None else now,
    )


def states_match(expected: str, received: str | None) -> bool:
    """Constant-time comparison that tolerates None and non-ASCII input."""
    if received is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))


def invalid_state(again: str = AGAIN) -> errors.InvalidState:
    return errors.InvalidState("Invalid state parameter", hint=restart_hint(again))


def check_state(
    pending: PendingAuth,
    received_state: str | None,
    *,
    now: float | None = None,
    again: str = AGAIN,
) -> None:
    """Raise InvalidState unless `received_state` is this attempt's and it has not expired."""
    # Compare first so a mismatch and an expiry take the same path and time.
    matches = states_match(pending.state, received_state)
    if not matches or pending.expired(now):
        raise invalid_state(again)


def short_error_name(error: str) -> str:
    """An OAuth `error` value cut down to a short, printable identifier."""
    return _ERROR_NAME_RE.sub("", error)[:64] or "unknown_error"


class PendingStore:
    """The pending attempt between `link --no-browser` and the pasted code.

    The file necessarily holds the PKCE verifier, so it is written 0600 and deleted
    as soon as the attempt is consumed.
    """

    def __init__(self, path: Path, again: str = AGAIN) -> None:
        self.path = path
        self.again = again  # the command that starts a new attempt, for hints

    def __repr__(self) -> str:
        return f"PendingStore({str(self.path)!r})"

    def save(self, pending: PendingAuth) -> None:
        record = {
            "version": _STORE_VERSION,
            "state": pending.state,
            "code_verifier": pending.code_verifier,
            "redirect_uri": pending.redirect_uri,
            "created_at": pending.created_at,
        }
        atomic_write(self.path, json.dumps(record).encode("utf-8"), mode=0o600)

    def load(self, *, now: float | None = None) -> PendingAuth:
        """The saved attempt; InvalidState if there is none, it is unreadable, or expired."""
        pending = self._read(self.path, self.again)
        if pending.expired(now):
            raise invalid_state(self.again)
        return pending

    def consume(self, received_state: str | None, *, now: float | None = None) -> PendingAuth:
        """Claim, check and delete the attempt: it can succeed at most once.

        Renaming the file away first means two concurrent completions cannot both
        read it; the attempt is deleted whether the check passes or not, because a
        wrong state is either an attack or a stale paste and both mean start again.
        """
        claimed = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.claimed")
        try:
            self.path.rename(claimed)
        except FileNotFoundError:
            raise invalid_state(self.again) from None
        except OSError as exc:
            raise errors.AuthError(
                f"cannot use the pending link attempt in {self.path}: {exc.strerror or exc}",
                hint=restart_hint(self.again),
            ) from None
        try:
            pending = self._read(claimed, self.again)
            check_state(pending, received_state, now=now, again=self.again)
            return pending
        finally:
            with contextlib.suppress(OSError):
                claimed.unlink()

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @staticmethod
    def _read(path: Path, again: str = AGAIN) -> PendingAuth:
        hint = restart_hint(again)
        try:
            record = json.loads(path.read_bytes())
            pending = PendingAuth(
                state=record["state"],
                code_verifier=record["code_verifier"],
                redirect_uri=record["redirect_uri"],
                created_at=float(record["created_at"]),
            )
        except FileNotFoundError:
            raise errors.InvalidState(
                "Invalid state parameter: no link attempt is in progress", hint=hint
            ) from None
        except (OSError, ValueError, TypeError, KeyError):
            # The content is never echoed: it holds the verifier.
            raise errors.InvalidState("the saved link attempt is unreadable", hint=hint) from None
        if not all(isinstance(v, str) for v in (pending.state, pending.code_verifier)) or not (
            pending.redirect_uri is None or isinstance(pending.redirect_uri, str)
        ):
            raise errors.InvalidState("the saved link attempt is unreadable", hint=hint)
        return pending


def parse_pasted(text: str) -> tuple[str | None, str | None, str | None]:
    """(code, state, error) from a pasted bare code or a full redirect address.

    A bare code (what a provider's no-redirect page shows) has no state; the caller
    decides whether that is acceptable for its flow.
    """
    text = text.strip().strip("'\"").strip()
    if not text:
        raise errors.UsageError("nothing was pasted", hint=PASTE_HINT)
    if "://" in text or text.startswith("?") or _QUERY_START_RE.match(text):
        return _parse_redirect(text)
    if not _CODE_RE.fullmatch(text):
        raise errors.UsageError("that does not look like an authorization code", hint=PASTE_HINT)
    if len(text) < MIN_CODE_LENGTH:
        raise errors.UsageError(
            f"that code looks truncated ({len(text)} characters; codes are longer)",
            hint=TRUNCATED_HINT,
        )
    return text, None, None


def _parse_redirect(text: str) -> tuple[str | None, str | None, str | None]:
    if "://" in text:
        parts = urlsplit(text)
        query = parts.query or parts.fragment
    else:
        query = text.lstrip("?")
    try:
        params = parse_qs(query, max_num_fields=32)
    except ValueError:
        raise errors.UsageError("that address has too many parameters", hint=PASTE_HINT) from None

    def first(name: str) -> str | None:
        values = params.get(name)
        return values[0].strip() if values and values[0].strip() else None

    code, state, error = first("code"), first("state"), first("error")
    if (code is None) != (state is None) and error is None and "://" in text:
        missing = "state" if state is None else "code"
        raise errors.UsageError(
            f"that address looks truncated: it has no {missing} parameter", hint=TRUNCATED_HINT
        )
    if code is None and error is None:
        raise errors.UsageError(
            "that address has neither a code nor an error parameter", hint=PASTE_HINT
        )
    return code, state, short_error_name(error) if error is not None else None
