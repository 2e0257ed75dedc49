"""Helpers shared by the link, status, doctor and secrets tests: ports, the fake's pages."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path
from typing import Any

import requests

BROWSER_SCRIPT = Path(__file__).with_name("browser_follow.py")
_CODE = re.compile(r'<code id="auth-code">([^<]+)</code>')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def browser_env(env: dict[str, str]) -> dict[str, str]:
    """BROWSER set to the stand-in browser script (webbrowser substitutes %s)."""
    return {**env, "BROWSER": f"{sys.executable} {BROWSER_SCRIPT} %s"}


def headless_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}


def code_shown(fake: Any, code_url: str) -> str:
    """Open the no-redirect authorize address and read the code Dropbox shows."""
    page = requests.get(code_url, verify=str(fake.ca_path), timeout=10)
    match = _CODE.search(page.text)
    assert match, page.text
    return match.group(1)


def landed_address(fake: Any, redirect_url: str) -> str:
    """Where the browser lands after Allow: http://localhost:PORT/?code=...&state=..."""
    answer = requests.get(redirect_url, verify=str(fake.ca_path), allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def addresses(text: str) -> list[str]:
    """The indented https addresses the CLI printed, in order."""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("https://")]
