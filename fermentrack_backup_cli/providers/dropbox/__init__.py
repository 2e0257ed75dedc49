"""The Dropbox provider: the only package that imports the dropbox SDK.

It builds clients from a refresh token (so short-lived access tokens refresh
themselves, even mid-upload), turns SDK results into `models` and SDK
exceptions into `errors` at this one boundary (`convert`), and offers the
upload-session primitives the transfer engine drives (`target`). The SDK's own
retries are turned off (it retries HTTP 429 forever by default);
`retry.RetryPolicy` bounds them. Every client sends through `transport`'s
session, which ends each request by the run's deadline. `oauth` holds the
authorize URL and the code exchange.
"""

from .client import Account, Credentials, make_client
from .convert import convert, converting, token_error
from .oauth import TokenGrant, authorize_url, exchange_code
from .target import DropboxTarget, to_remote

__all__ = [
    "Account",
    "Credentials",
    "DropboxTarget",
    "TokenGrant",
    "authorize_url",
    "convert",
    "converting",
    "exchange_code",
    "make_client",
    "to_remote",
    "token_error",
]
