"""Healthchecks-style pings: GET URL/start, URL on success, URL/fail on failure.

stdlib urllib only, a short timeout, and never an exception: a monitoring
service being down must not fail a backup. Failed pings are collected in
`problems` so the CLI can mention them.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from . import __version__, errors

TIMEOUT_S = 10.0


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.InvalidValue(
            f"--notify-url must be an http(s) URL, not {url!r}",
            "for example https://hc-ping.com/<uuid>",
        )
    return url


def with_suffix(url: str, suffix: str) -> str:
    """`url` with `/suffix` appended to its path (the query string stays at the end)."""
    if not suffix:
        return url
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix))


class Notifier:
    def __init__(self, url: str, timeout: float = TIMEOUT_S) -> None:
        self.url = check_url(url)
        self.timeout = timeout
        self.problems: list[str] = []

    def ping(self, suffix: str = "") -> bool:
        target = with_suffix(self.url, suffix)
        request = urllib.request.Request(  # noqa: S310  # scheme checked in check_url
            target, headers={"User-Agent": f"fermentrack-backup/{__version__}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read(1024)
            return True
        except Exception as exc:  # URLError, timeouts, resets, a garbled reply
            # (http.client.HTTPException is neither OSError nor ValueError): never fail a backup
            reason = getattr(exc, "reason", None) or type(exc).__name__
            self.problems.append(f"could not ping {suffix or 'success'} URL: {reason}")
            return False

    def start(self) -> None:
        self.ping("start")

    def finish(self, ok: bool) -> None:
        self.ping("" if ok else "fail")


class _Outcome:
    def __init__(self) -> None:
        self.ok = False


@contextmanager
def pinging(url: str | None) -> Iterator[tuple[Notifier | None, _Outcome]]:
    """Ping start on entry; on exit success when `outcome.ok` was set, else fail."""
    notifier = Notifier(url) if url else None
    outcome = _Outcome()
    if notifier is not None:
        notifier.start()
    try:
        yield notifier, outcome
    finally:
        if notifier is not None:
            notifier.finish(outcome.ok)
