"""Building an SDK client from a refresh token, with the SDK's own retries off.

Every client sends through our own session (`transport`), so its calls, its token
refreshes and its downloads all end by the run's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

import dropbox

from ... import __version__
from ...bandwidth import Limiter
from ...retry import Deadline
from .transport import deadline_session

TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Credentials:
    app_key: str
    app_secret: str | None
    refresh_token: str

    def __repr__(self) -> str:
        return f"Credentials(app_key={self.app_key!r}, app_secret=***, refresh_token=***)"


def make_client(
    creds: Credentials,
    *,
    ca_certs: str | None = None,
    timeout: float = TIMEOUT_S,
    deadline: Deadline | None = None,
    limiter: Limiter | None = None,
) -> dropbox.Dropbox:
    """`timeout`: the longest wait for one packet; `deadline`: when every request ends;
    `limiter`: the run's bandwidth limit for request bodies."""
    return dropbox.Dropbox(
        oauth2_refresh_token=creds.refresh_token,
        app_key=creds.app_key,
        app_secret=creds.app_secret or None,
        max_retries_on_error=0,  # our RetryPolicy retries, bounded
        max_retries_on_rate_limit=0,  # the SDK's default (None) retries 429 forever
        timeout=timeout,
        session=deadline_session(deadline, ca_certs, limiter),
        auto_content_hash=False,  # we always send our own hash, computed once per block
        user_agent=f"fermentrack-backup/{__version__}",
    )
