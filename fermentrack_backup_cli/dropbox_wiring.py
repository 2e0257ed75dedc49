"""Glue between the app (settings, token store, history) and the Dropbox provider.

Imported lazily by commands that talk to Dropbox, because importing it loads the
SDK. Owns: app credentials and their errors, building a client for a
connection, marking a connection `needs_relink`, and revoking on unlink.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from . import errors
from .app import App
from .auth.tokens import TokenStore, open_store
from .config import parse_duration
from .models import Connection
from .providers.dropbox import Credentials, DropboxTarget, make_client
from .retry import RetryPolicy

T = TypeVar("T")


def app_credentials(app: App) -> tuple[str, str | None]:
    key = app.settings.get("dropbox.app_key")
    if not key:
        raise errors.ProviderDisabled(
            "the Dropbox provider is not enabled: DROPBOX_APP_KEY is not set",
            "set DROPBOX_APP_KEY, or `fermentrack-backup config set dropbox.app_key KEY`, or "
            "point `env_file` at your Fermentrack .envs/.production/.django",
        )
    return str(key), app.settings.get("dropbox.app_secret") or None


def ca_certs() -> str | None:
    """A CA bundle from the environment (corporate proxies); None means the default."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return value
    return None


def token_store_for(app: App, conn: Connection | None = None) -> TokenStore:
    kind = (conn.token_store if conn and conn.token_store else None) or app.settings.get(
        "token_store"
    )
    return open_store(str(kind), app.dirs.token_file)


def retry_policy(app: App, max_duration: float | None = None) -> RetryPolicy:
    """The run's policy: its time budget counts from the start of the run, so every
    target of one run (an upload and its --prune) shares one deadline."""
    budget = None
    duration = max_duration
    if duration is None:
        budget = str(app.settings.get("upload.max_duration"))
        duration = parse_duration(budget)
    attempts = int(app.settings.get("upload.max_attempts"))
    return RetryPolicy.for_duration(attempts, duration, budget=budget, start=app.started)


def credentials(app: App, conn: Connection) -> Credentials:
    key, secret = app_credentials(app)
    if conn.state == "needs_relink":
        raise errors.NeedsRelink(
            f"connection {conn.label} needs to be linked again (its token was refused)",
            "run `fermentrack-backup link dropbox`; the connection and its history are kept",
        )
    token = token_store_for(app, conn).get(conn.id)
    if not token:
        raise errors.NotLinked(
            f"no refresh token for connection {conn.label} in the {conn.token_store} store",
            "run `fermentrack-backup link dropbox` again (it keeps this connection)",
        )
    return Credentials(key, secret, token)


@dataclasses.dataclass
class _RelinkMarkingPolicy(RetryPolicy):
    """A RetryPolicy that marks the connection needs_relink when its token is refused.

    Every call of a connection's target (the transfer engine's too) goes through its
    policy, so this is the one place that sees a revoked refresh token mid-upload.
    """

    on_refused: Callable[[], None] | None = None

    def call(self, func: Callable[[], T], what: str) -> T:
        try:
            return super().call(func, what)
        except errors.NeedsRelink:
            # sqlite3 connections belong to the main thread; an upload worker's refusal
            # reaches the main thread as this same error, and the pipeline marks it there
            if (
                self.on_refused is not None
                and threading.current_thread() is threading.main_thread()
            ):
                self.on_refused()
            raise


def _marking(app: App, conn: Connection, retry: RetryPolicy) -> RetryPolicy:
    fields = {f.name: getattr(retry, f.name) for f in dataclasses.fields(RetryPolicy)}
    fields["service"] = "Dropbox"
    return _RelinkMarkingPolicy(
        **fields, on_refused=lambda: app.history.update_connection(conn.id, state="needs_relink")
    )


def dropbox_target(app: App, conn: Connection, retry: RetryPolicy | None = None) -> DropboxTarget:
    from .transfer import uploader_for  # the engine; no SDK import of its own

    policy = _marking(app, conn, retry or retry_policy(app))
    target = DropboxTarget(
        make_client(credentials(app, conn), ca_certs=ca_certs(), deadline=policy.deadline),
        app.settings.get("remote_folder"),
        policy,
    )
    target._uploader = uploader_for(app, conn.id)
    return target


def guarded(app: App, conn: Connection, func: Callable[[], T]) -> T:
    """Run a Dropbox call; a refused refresh token marks the connection needs_relink."""
    try:
        return func()
    except errors.NeedsRelink:
        app.history.update_connection(conn.id, state="needs_relink")
        raise


def revoke_and_forget(app: App, conn: Connection) -> list[str]:
    """Revoke the token at Dropbox (warn if offline) and delete it from the store."""
    warnings: list[str] = []
    store = token_store_for(app, conn)
    try:
        target = dropbox_target(app, conn, RetryPolicy(max_attempts=2))
        target.revoke()
    except errors.BackupError as exc:
        warnings.append(
            f"could not revoke the token at Dropbox ({exc.message}); "
            "remove the app at dropbox.com/account/connected_apps if needed"
        )
    try:
        store.delete(conn.id)
    except errors.BackupError as exc:
        warnings.append(f"could not delete the stored token: {exc.message}")
    return warnings
