"""A stand-in browser for `BROWSER="python tests/browser_follow.py %s"`.

GETs the authorize URL from the fake Dropbox (trusting its CA through
REQUESTS_CA_BUNDLE), does not follow the redirect itself, then GETs the Location
(http://localhost:PORT/?code=...&state=...) from the loopback listener, the way a
real browser would. Exit status 0 when the listener answered 200.
"""

from __future__ import annotations

import sys

import requests


def follow(url: str) -> int:
    answer = requests.get(url, allow_redirects=False, timeout=10)
    location = answer.headers.get("Location")
    if answer.status_code != 302 or not location:
        return 2
    landed = requests.get(location, allow_redirects=False, timeout=10)
    return 0 if landed.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(follow(sys.argv[1]))
