"""The link use cases: a folder (`link_folder`), or an account through OAuth (`Linker`).

OAuth, for any provider that offers an `OAuthClient`: browser mode, headless paste,
and two steps. Checking the token store before any browser opens, starting an attempt
(state + PKCE), turning what the user pastes into a code, the exchange, and recording
the connection (deduplicated by the provider's account id), then whether cron can read
the token. The CLI passes in how to announce things and open a browser; nothing here
prints or reads the terminal. Loading an OAuth provider may import its SDK.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .. import errors, providers
from ..auth import reachability
from ..auth.listener import CallbackListener, redirect_uri_for
from ..auth.session import (
    PendingAuth,
    PendingStore,
    check_state,
    invalid_state,
    new_pending,
    parse_pasted,
)
from ..auth.tokens import TokenStore
from ..models import Account, Connection
from ..text import check_label, derived_label
from .targets import Targets, shadowed_reference

BROWSER_REDIRECT_HINT = (
    "if {provider} said the redirect URI is invalid, register exactly {uri} as a redirect "
    "URI of the app; or use --no-browser to paste a code"
)


@dataclass(frozen=True)
class LinkStart:
    """A started attempt and the two addresses that complete it."""

    pending: PendingAuth
    code_url: str  # no redirect: the provider shows a code to paste
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


def link_folder(
    targets: Targets, provider_id: str, path: Path, label: str | None
) -> tuple[Connection, bool]:
    """Link a folder, recording the filesystem it is on. Linking an already linked
    folder again (no --label, or its own) records its filesystem anew instead;
    returns the connection and whether it already existed."""
    if label and (why := shadowed_reference(check_label(label))):
        raise errors.UsageError(
            f"the label {label!r} cannot be used: {why}", "choose another --label"
        )
    found = providers.load(provider_id).link_folder(path)
    fields = {"device": found.device, "mount_point": found.mount_point}
    conns = targets.connections()
    for conn in conns:
        same = conn.provider == provider_id and conn.location == found.location
        if same and label in (None, conn.label):
            targets.db.connections.update(conn.id, **fields)
            return replace(conn, device=found.device, mount_point=found.mount_point), True
    folder = Path(found.location)
    conn = Connection(
        id=str(uuid.uuid4()),
        provider=provider_id,
        label=_explicit_label(label, conns)
        if label
        else _unique_label(derived_label(folder.name or str(folder), provider_id), conns),
        location=found.location,
        device=found.device,
        mount_point=found.mount_point,
    )
    return targets.db.connections.add(conn), False


class Linker:
    """One OAuth link run: the provider's OAuth client and the configured token store."""

    def __init__(self, targets: Targets, provider_id: str) -> None:
        self.targets = targets
        self.provider_id = provider_id
        self.display = providers.get(provider_id).display_name
        self.oauth = providers.load(provider_id).oauth(targets.settings)
        self.store: TokenStore = targets.token_store()
        self.again = f"`fermentrack-backup link {provider_id}`"  # for hints

    def check_store(self) -> None:
        """Prove the token store works before the user spends a code on it."""
        self.store.probe()

    def start(self, port: int) -> LinkStart:
        pending = new_pending(redirect_uri_for(port))
        challenge = pending.code_challenge
        return LinkStart(
            pending,
            self.oauth.authorize_url(
                redirect_uri=None, state=pending.state, code_challenge=challenge
            ),
            self.oauth.authorize_url(
                redirect_uri=pending.redirect_uri, state=pending.state, code_challenge=challenge
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
        # a busy port fails before any browser opens
        with CallbackListener(port, provider=self.display, again=self.again) as listener:
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
                        f"{exc.hint}; "
                        + BROWSER_REDIRECT_HINT.format(provider=self.display, uri=uri),
                        code="timeout",
                    ) from None
                raise
        return self.finish(code, start.pending.redirect_uri, start.pending, label)

    # headless: paste in this run ---------------------------------------------------

    def complete_pasted(self, start: LinkStart, text: str, label: str | None) -> LinkResult:
        code, state, error = parse_pasted(text)
        pending = start.pending
        if state is not None:
            check_state(pending, state, again=self.again)
        elif pending.expired():
            raise invalid_state(self.again)
        self._raise_for_error(error)
        assert code is not None
        return self.finish(code, pending.redirect_uri if state else None, pending, label)

    # two steps: --print-url, then --code -------------------------------------------

    def pending_store(self) -> PendingStore:
        return PendingStore(self.targets.dirs.pending_auth_file, self.again)

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
        self._raise_for_error(error)
        assert code is not None
        return self.finish(code, None if bare_code else pending.redirect_uri, pending, label)

    def _raise_for_error(self, error: str | None) -> None:
        if error is None:
            return
        again = f"run {self.again} again"
        if error == "access_denied":
            raise errors.AccessDenied(
                f"{self.display} authorization was cancelled", f"{again} and click Allow"
            )
        raise errors.AuthError(f"{self.display} authorization failed: {error}", again)

    # after the code ------------------------------------------------------------------

    def finish(
        self, code: str, redirect_uri: str | None, pending: PendingAuth, label: str | None
    ) -> LinkResult:
        grant = self.oauth.exchange(
            code, redirect_uri=redirect_uri, code_verifier=pending.code_verifier
        )
        account = self.oauth.account(grant.refresh_token)
        return self.record(account, grant.refresh_token, label)

    def record(self, account: Account, refresh_token: str, label: str | None) -> LinkResult:
        table = self.targets.db.connections
        conns = table.all()
        same = [
            c
            for c in conns
            if c.provider == self.provider_id and c.account_id == account.account_id
        ]
        location = self.store.describe()
        if same:
            old = same[0]
            previous = _token_quietly(self.targets.token_store(old), old.id)
            self.store.set(old.id, refresh_token)
            if old.token_store and old.token_store != self.store.name:
                _forget_quietly(self.targets.token_store(old), old.id)
            fields: dict[str, object] = {
                "state": "ok",
                "account_email": account.email,
                "account_name": account.name,
                "token_store": self.store.name,
            }
            if label:
                fields["label"] = _explicit_label(label, [c for c in conns if c.id != old.id])
            table.update(old.id, **fields)
            if previous and previous != refresh_token:
                self.oauth.revoke(previous)  # the grant this link replaced
            updated = table.get(old.id)
            assert updated is not None
            cron = reachability.check(self.store, old.id, refresh_token, again=self.again)
            return LinkResult(updated, True, old.state == "needs_relink", location, cron)
        conn = Connection(
            id=str(uuid.uuid4()),
            provider=self.provider_id,
            label=_explicit_label(label, conns)
            if label
            else _unique_label(
                derived_label(f"{account.name} ({account.email})", self.provider_id), conns
            ),
            account_id=account.account_id,
            account_email=account.email,
            account_name=account.name,
            token_store=self.store.name,
        )
        self.store.set(conn.id, refresh_token)
        try:
            table.add(conn)
        except BaseException:
            _forget_quietly(self.store, conn.id)
            raise
        cron = reachability.check(self.store, conn.id, refresh_token, again=self.again)
        return LinkResult(conn, False, False, location, cron)


def _explicit_label(label: str, others: list[Connection]) -> str:
    """A label the user chose: refused when taken (as `link local` does) or when it would
    hide another reference, never renamed."""
    label = check_label(label)
    why = shadowed_reference(label)
    if why:
        raise errors.UsageError(
            f"the label {label!r} cannot be used: {why}", "choose another --label"
        )
    if any(c.label == label for c in others):
        raise errors.UsageError(
            f"a connection labelled {label!r} already exists", "choose another --label"
        )
    return label


def _unique_label(label: str, others: list[Connection]) -> str:
    taken = {c.label for c in others}
    candidate, n = label, 2
    while candidate in taken or shadowed_reference(candidate):
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
