"""The Dropbox provider: settings and a connection's token -> an SDK client and a target;
its status and doctor checks, unlink (revoke), and the OAuth adapter `core.link` drives.

Importing this module does not import the SDK (`providers` and `doctor` ask whether the
provider is enabled without talking to Dropbox): the modules that do are imported by
the methods that need them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from ... import errors
from ...config import Settings
from ...models import Account, Connection, ProviderInfo, TokenGrant
from ...retry import RetryPolicy
from ..base import Target
from ..spec import Provider, ProviderSpec, SetupCheck, TargetEnv
from . import SPEC

if TYPE_CHECKING:
    from .target import DropboxTarget


LINK_SECONDS = 60.0  # reading the account of a new grant, revoking a replaced one


def ca_certs() -> str | None:
    """A CA bundle from the environment (corporate proxies); None means the default."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return value
    return None


class DropboxProvider(Provider):
    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def _app(self, settings: Settings) -> tuple[str, str | None]:
        key = settings.get("dropbox.app_key")
        if not key:
            raise errors.ProviderDisabled(
                "the Dropbox provider is not enabled: DROPBOX_APP_KEY is not set",
                "set DROPBOX_APP_KEY, or `fermentrack-backup config set dropbox.app_key KEY`, "
                "or point `env_file` at your Fermentrack .envs/.production/.django",
            )
        return str(key), settings.get("dropbox.app_secret") or None

    def availability(self, settings: Settings) -> ProviderInfo:
        enabled = bool(settings.get("dropbox.app_key"))
        reason = None if enabled else "DROPBOX_APP_KEY is not set"
        return ProviderInfo(self.spec.id, self.spec.display_name, enabled, reason)

    def setup_check(self, settings: Settings) -> SetupCheck:
        from ...auth.listener import redirect_uri_for

        if not settings.get("dropbox.app_key"):
            return SetupCheck(
                False,
                "the Dropbox provider is not enabled (DROPBOX_APP_KEY / dropbox.app_key not set)",
                "`fermentrack-backup config set dropbox.app_key KEY`, or point env_file at "
                "Fermentrack's .envs/.production/.django",
            )
        kind = "with app secret" if settings.get("dropbox.app_secret") else "PKCE only"
        uri = redirect_uri_for(int(settings.get("oauth.callback_port")))
        return SetupCheck(
            True,
            f"enabled ({kind}, key from {settings.source('dropbox.app_key')}); "
            f"redirect URI to register: {uri}",
        )

    def open(self, conn: Connection, env: TargetEnv) -> DropboxTarget:
        from .client import Credentials, make_client  # deferred: the SDK
        from .target import DropboxTarget

        key, secret = self._app(env.settings)
        relink = f"run `fermentrack-backup link {self.spec.id}` again"
        if conn.state == "needs_relink":
            raise errors.NeedsRelink(
                f"connection {conn.label} needs to be linked again (its token was refused)",
                f"{relink}; the connection and its history are kept",
            )
        token = env.tokens.get(conn.id) if env.tokens is not None else None
        if not token:
            raise errors.NotLinked(
                f"no refresh token for connection {conn.label} in the {conn.token_store} store",
                f"{relink} (it keeps this connection)",
            )
        retry = replace(env.retry, service=self.spec.display_name, status_url=self.spec.status_url)
        client = make_client(
            Credentials(key, secret, token),
            ca_certs=ca_certs(),
            deadline=retry.deadline,
            limiter=env.transfer.bwlimit,
        )
        return DropboxTarget(
            client,
            env.remote_folder,
            retry,
            provider_id=self.spec.id,
            lock_key=f"{self.spec.id}:{conn.id}",
            transfer=env.transfer,
            resume=env.resume,
        )

    def check(self, target: Target) -> dict[str, Any]:
        dropbox = cast("DropboxTarget", target)
        dropbox.refresh()
        account = dropbox.account()
        return {"token_refreshes": True, "account": {"email": account.email, "name": account.name}}

    def probe(self, target: Target) -> str:
        cast("DropboxTarget", target).refresh()
        return "the Dropbox token refreshes"

    def forget(self, conn: Connection, env: TargetEnv) -> list[str]:
        """Revoke the token at Dropbox (warn if offline) and delete it from its store."""
        warnings: list[str] = []
        try:
            self.open(conn, replace(env, retry=replace(env.retry, max_attempts=2))).revoke()
        except errors.BackupError as exc:
            warnings.append(
                f"could not revoke the token at Dropbox ({exc.message}); "
                "remove the app at dropbox.com/account/connected_apps if needed"
            )
        if env.tokens is not None:
            try:
                env.tokens.delete(conn.id)
            except errors.BackupError as exc:
                warnings.append(f"could not delete the stored token: {exc.message}")
        return warnings

    def oauth(self, settings: Settings) -> DropboxOAuth:
        key, secret = self._app(settings)
        return DropboxOAuth(key, secret, settings)


class DropboxOAuth:
    """The OAuth adapter: PKCE always, the app secret too when configured."""

    def __init__(self, app_key: str, app_secret: str | None, settings: Settings) -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.settings = settings

    def __repr__(self) -> str:
        return f"DropboxOAuth(app_key={self.app_key!r}, app_secret=***)"

    def authorize_url(self, *, redirect_uri: str | None, state: str, code_challenge: str) -> str:
        from .oauth import authorize_url  # deferred: the SDK

        return authorize_url(
            self.app_key, redirect_uri=redirect_uri, state=state, code_challenge=code_challenge
        )

    def exchange(self, code: str, *, redirect_uri: str | None, code_verifier: str) -> TokenGrant:
        from .oauth import exchange_code  # deferred: the SDK

        return exchange_code(
            self.app_key,
            self.app_secret,
            code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            ca_certs=ca_certs(),
        )

    def _target(self, refresh_token: str, attempts: int) -> DropboxTarget:
        from .client import Credentials, make_client  # deferred: the SDK
        from .target import DropboxTarget

        creds = Credentials(self.app_key, self.app_secret, refresh_token)
        retry = RetryPolicy.bounded(attempts, LINK_SECONDS, "the time limit of linking")
        return DropboxTarget(
            make_client(creds, ca_certs=ca_certs(), deadline=retry.deadline),
            str(self.settings.get("remote_folder")),
            replace(retry, service=SPEC.display_name, status_url=SPEC.status_url),
        )

    def account(self, refresh_token: str) -> Account:
        return self._target(refresh_token, 3).account()

    def revoke(self, refresh_token: str) -> None:
        """Best effort: a token a re-link replaced may be dead already."""
        with contextlib.suppress(errors.BackupError):
            self._target(refresh_token, 1).revoke()
