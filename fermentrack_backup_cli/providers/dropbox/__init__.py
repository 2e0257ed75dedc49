"""The Dropbox provider: the only package that imports the dropbox SDK.

Importing this package costs nothing: it holds the provider's `SPEC` (id, config
keys, how it links) for the registry. `make_provider()` imports the rest on first use:
`provider` (settings -> clients and targets, health, unlink, the OAuth adapter),
`client` (an SDK client from a refresh token, the SDK's own retries off: it retries
HTTP 429 forever by default), `transport` (the HTTPS session that ends each request
by the run's deadline), `convert` (SDK results -> `models`, SDK exceptions ->
`errors`, at this one boundary), `target` (the connection's folder and its
upload-session primitives), `engine` + `chunks` (the upload engine: chunk plan,
read-once hashing, concurrency, resume), `oauth` (authorize URL, code exchange).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...config import Key
from ...config.values import plain_text
from ..spec import ProviderSpec

if TYPE_CHECKING:
    from .provider import DropboxProvider

SPEC = ProviderSpec(
    id="dropbox",
    display_name="Dropbox",
    module=__name__,
    link="oauth",
    uses_tokens=True,
    network=True,
    runtime_packages=("dropbox",),
    status_url="https://status.dropbox.com",
    config_keys=(
        Key(
            "dropbox.app_key",
            plain_text,
            None,
            "Dropbox app key (enables the provider)",
            env="DROPBOX_APP_KEY",
            env_file=True,
        ),
        Key(
            "dropbox.app_secret",
            plain_text,
            None,
            "Dropbox app secret (read from stdin)",
            env="DROPBOX_APP_SECRET",
            secret=True,
            env_file=True,
        ),
    ),
)


def make_provider() -> DropboxProvider:
    from .provider import DropboxProvider

    return DropboxProvider(SPEC)
