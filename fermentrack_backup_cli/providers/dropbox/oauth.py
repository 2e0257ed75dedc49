"""OAuth: the authorize URL and the code exchange (PKCE always, the secret when set)."""

from __future__ import annotations

from typing import Any

import requests

from ... import errors
from ...models import TokenGrant
from ...retry import Deadline
from .convert import RELINK_HINT, _json_or_empty, token_error
from .transport import deadline_session

# OAuth: authorize URL, code exchange, token-endpoint errors --------------------------
#
# The SDK's DropboxOAuth2FlowBase builds the authorize URL (honouring DROPBOX_WEB_HOST)
# and gives us its pinned requests session. Its `_finish` sends only the PKCE verifier
# when PKCE is on; a confidential app (with a secret) should authenticate too, so the
# exchange posts the form itself: code_verifier always, client_secret when configured.

OAUTH_TIMEOUT_S = 30.0
LINK_LIMIT = "the time limit of linking"


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
    # our deadline-bound session, not the flow's: a trickling token endpoint must not hang
    session = deadline_session(Deadline.after(2 * timeout, limit=LINK_LIMIT), ca_certs)
    try:
        resp = session.post(flow.build_url("/oauth2/token"), data=form, timeout=timeout)
    except requests.exceptions.RequestException as exc:
        raise _oauth_network_error(exc) from None
    if resp.status_code != 200:
        raise token_error(resp.status_code, _json_or_empty(resp), redirect_uri)
    body = _json_or_empty(resp)
    refresh = body.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise errors.AuthError(
            "Dropbox did not return a refresh token",
            "the app must allow offline access; " + RELINK_HINT,
            code="no_refresh_token",
        )
    account = body.get("account_id")
    return TokenGrant(refresh, account if isinstance(account, str) else None)


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
