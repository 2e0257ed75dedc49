"""Linking a Dropbox account: browser mode, headless paste, and two steps.

Owns the link use cases: checking the token store before any browser opens,
starting an attempt (state + PKCE), turning what the user pastes into a code,
the exchange, and recording the connection (deduplicated by Dropbox account id).
The CLI passes in how to announce things and open a browser; nothing here prints
or reads the terminal. Imports the SDK (through dropbox_wiring): import lazily.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from . import errors
from .app import App
from .auth import reachability
from .auth.listener import CallbackListener, redirect_uri_for
from .auth.session import (
    PendingAuth,
    PendingStore,
    check_state,
    invalid_state,
    new_pending,
    parse_pasted,
)
from .auth.tokens import TokenStore
from .dropbox_wiring import app_credentials, ca_certs, token_store_for
from .models import Connection
from .providers.dropbox import (
    Account,
    Credentials,
    DropboxTarget,
    authorize_url,
    exchange_code,
    make_client,
)
from .retry import RetryPolicy
from .text import check_label, derived_label

BROWSER_REDIRECT_HINT = (
    "if Dropbox said the redirect URI is invalid, add exactly {uri} under OAuth 2 > "
    "Redirect URIs in the app console; or use --no-browser to paste a code"
)


@dataclass(frozen=True)
class LinkStart:
    """A started attempt and the two addresses that complete it."""

    pending: PendingAuth
    code_url: str  # no redirect: Dropbox shows a code to paste
    redirect_url: str  # sends the browser to http://localhost:PORT/?code=...&state=...


@dataclass(frozen=True)
class LinkResult:
    connection: Connection
    refreshed: bool  # the account was linked already: its token was replaced
    was_needs_relink: bool
    token_location: str
    # Can a cron job read the token back? None: no check for this store, or it could not run.
    cron: reachability.Reachability | None = None

    @property
    def token_reachable_from_cron(self) -> bool | None:
        return None if self.cron is None else self.cron.reachable


class Linker:
    """One `link dropbox` run: app credentials and the configured token store."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.app_key, self.app_secret = app_credentials(app)
        self.store: TokenStore = token_store_for(app)

    def check_store(self) -> None:
        """Prove the token store works before the user spends a code on it."""
        self.store.probe()

    def start(self, port: int) -> LinkStart:
        pending = new_pending(redirect_uri_for(port))
        challenge = pending.code_challenge
        return LinkStart(
            pending,
            authorize_url(
                self.app_key, redirect_uri=None, state=pending.state, code_challenge=challenge
            ),
            authorize_url(
                self.app_key,
                redirect_uri=pending.redirect_uri,
                state=pending.state,
                code_challenge=challenge,
            ),
        )

    # browser mode ----------------------------------------------------------------

    def in_browser(
        self,
        port: int,
        timeout: float,
        label: str | None,
        announce: Callable[[LinkStart], None],
        open_url: Callable[[str], object],
    ) -> LinkResult:
        self.check_store()
        with CallbackListener(port) as listener:  # a busy port fails before any browser
            start = self.start(listener.port)
            announce(start)
            # In a thread: webbrowser waits for a BROWSER command (lynx, a script) to
            # exit, and the listener only serves inside `wait`.
            threading.Thread(
                target=open_url, args=(start.redirect_url,), name="open-browser", daemon=True
            ).start()
            try:
                code = listener.wait(start.pending, timeout)
            except errors.AuthError as exc:
                if exc.code == "timeout":
                    uri = listener.redirect_uri
                    raise errors.AuthError(
                        exc.message,
                        f"{exc.hint}; " + BROWSER_REDIRECT_HINT.format(uri=uri),
                        code="timeout",
                    ) from None
                raise
        return self.finish(code, start.pending.redirect_uri, start.pending, label)

    # headless: paste in this run ---------------------------------------------------

    def complete_pasted(self, start: LinkStart, text: str, label: str | None) -> LinkResult:
        code, state, error = parse_pasted(text)
        pending = start.pending
        if state is not None:
            check_state(pending, state)
        elif pending.expired():
            raise invalid_state()
        _raise_for_error(error)
        assert code is not None
        return self.finish(code, pending.redirect_uri if state else None, pending, label)

    # two steps: --print-url, then --code -------------------------------------------

    def pending_store(self) -> PendingStore:
        return PendingStore(self.app.dirs.pending_auth_file)

    def begin_two_step(self, port: int) -> LinkStart:
        self.check_store()
        start = self.start(port)
        self.pending_store().save(start.pending)
        return start

    def complete_saved(self, text: str, label: str | None) -> LinkResult:
        code, state, error = parse_pasted(text)
        self.check_store()  # before the attempt is used up
        store = self.pending_store()
        bare_code = state is None  # the no-redirect page shows a code without a state
        pending = store.consume(store.load().state if bare_code else state)
        _raise_for_error(error)
        assert code is not None
        return self.finish(code, None if bare_code else pending.redirect_uri, pending, label)

    # after the code ------------------------------------------------------------------

    def finish(
        self, code: str, redirect_uri: str | None, pending: PendingAuth, label: str | None
    ) -> LinkResult:
        cas = ca_certs()
        grant = exchange_code(
            self.app_key,
            self.app_secret,
            code,
            redirect_uri=redirect_uri,
            code_verifier=pending.code_verifier,
            ca_certs=cas,
        )
        creds = Credentials(self.app_key, self.app_secret, grant.refresh_token)
        target = DropboxTarget(
            make_client(creds, ca_certs=cas),
            self.app.settings.get("remote_folder"),
            RetryPolicy(max_attempts=3),
        )
        account = target.account()
        return self.record(account, grant.refresh_token, label)

    def _revoke_quietly(self, refresh_token: str) -> None:
        """Revoke the refresh token a re-link replaced; best effort (it may be dead already)."""
        creds = Credentials(self.app_key, self.app_secret, refresh_token)
        target = DropboxTarget(
            make_client(creds, ca_certs=ca_certs()),
            self.app.settings.get("remote_folder"),
            RetryPolicy(max_attempts=1),
        )
        with contextlib.suppress(errors.BackupError):
            target.revoke()

    def record(self, account: Account, refresh_token: str, label: str | None) -> LinkResult:
        history = self.app.history
        conns = history.connections()
        same = [c for c in conns if c.provider == "dropbox" and c.account_id == account.account_id]
        location = self.store.describe()
        if same:
            old = same[0]
            previous = _token_quietly(token_store_for(self.app, old), old.id)
            self.store.set(old.id, refresh_token)
            if old.token_store and old.token_store != self.store.name:
                _forget_quietly(token_store_for(self.app, old), old.id)
            fields: dict[str, object] = {
                "state": "ok",
                "account_email": account.email,
                "account_name": account.name,
                "token_store": self.store.name,
            }
            if label:
                fields["label"] = _explicit_label(label, [c for c in conns if c.id != old.id])
            history.update_connection(old.id, **fields)
            if previous and previous != refresh_token:
                self._revoke_quietly(previous)
            updated = history.get_connection(old.id)
            assert updated is not None
            cron = reachability.check(self.store, old.id, refresh_token)
            return LinkResult(updated, True, old.state == "needs_relink", location, cron)
        conn = Connection(
            id=str(uuid.uuid4()),
            provider="dropbox",
            label=_explicit_label(label, conns)
            if label
            else _unique_label(
                derived_label(f"{account.name} ({account.email})", "dropbox"), conns
            ),
            account_id=account.account_id,
            account_email=account.email,
            account_name=account.name,
            token_store=self.store.name,
        )
        self.store.set(conn.id, refresh_token)
        try:
            history.add_connection(conn)
        except BaseException:
            _forget_quietly(self.store, conn.id)
            raise
        cron = reachability.check(self.store, conn.id, refresh_token)
        return LinkResult(conn, False, False, location, cron)


def _raise_for_error(error: str | None) -> None:
    if error is None:
        return
    if error == "access_denied":
        raise errors.AccessDenied(
            "Dropbox authorization was cancelled",
            "run `fermentrack-backup link dropbox` again and click Allow",
        )
    raise errors.AuthError(
        f"Dropbox authorization failed: {error}",
        "run `fermentrack-backup link dropbox` again",
    )


def _explicit_label(label: str, others: list[Connection]) -> str:
    """A label the user chose: refused when taken (as `link local` does), never renamed."""
    label = check_label(label)
    if any(c.label == label for c in others):
        raise errors.UsageError(
            f"a connection labelled {label!r} already exists", "choose another --label"
        )
    return label


def _unique_label(label: str, others: list[Connection]) -> str:
    taken = {c.label for c in others}
    candidate, n = label, 2
    while candidate in taken:
        candidate, n = f"{label} {n}", n + 1
    return candidate


def _token_quietly(store: TokenStore, conn_id: str) -> str | None:
    with contextlib.suppress(errors.BackupError):
        return store.get(conn_id)
    return None


def _forget_quietly(store: TokenStore, conn_id: str) -> None:
    # best effort: the caller's own error (or success) is what matters
    with contextlib.suppress(errors.BackupError):
        store.delete(conn_id)
