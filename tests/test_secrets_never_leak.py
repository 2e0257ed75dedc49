"""No secret reaches any output or any file the tool writes, end to end in subprocesses.

Runs link (two steps; reading the code from stdin), status, doctor, upload, config show and unlink
against the fake Dropbox, then looks for the app secret, every authorization code,
PKCE verifier, access and refresh token the fake handed out in every captured
stdout/stderr and every file under the home dir, except the file store's token file
(which holds refresh tokens by design and is checked to be 0600 elsewhere).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.cli_helpers import cli
from tests.link_support import code_shown


def _secrets(fake: Any) -> set[str]:
    found = {fake.app_secret}
    found |= set(fake._codes) | set(fake._refresh_tokens) | set(fake._access_tokens)
    for request in fake.requests_to("oauth2/token"):
        for name in ("code", "code_verifier", "client_secret", "refresh_token"):
            if request.args.get(name):
                found.add(request.args[name])
    return {s for s in found if s}


def test_no_secret_appears_in_output_history_state_config_or_logs(
    fake_dropbox: Any, dropbox_env: dict[str, str], home: Path, sample: Path
) -> None:
    fake_dropbox.access_token_lifetime = 2  # force refreshes along the way
    runs: list[subprocess.CompletedProcess[str]] = []

    def step(*args: str, input: str | None = None) -> str:
        result = cli(*args, env=dropbox_env, input=input)
        runs.append(result)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    url = step("link", "dropbox", "--print-url").strip()
    step("link", "dropbox", "--code", "-", input=code_shown(fake_dropbox, url) + "\n")
    step("status")
    step("connections", "--json")
    step("doctor")
    step("upload", str(sample), "--to", "Fake Brewer (brewer@example.com)")
    step("uploads", "--json")
    step("config", "show")
    step("unlink", "Fake Brewer (brewer@example.com)", "--yes")

    secrets = _secrets(fake_dropbox)
    assert len(secrets) >= 5  # secret, code, verifier, refresh and access tokens
    outputs = [(f"{r.args[1:3]}", r.stdout + r.stderr) for r in runs]
    token_file = home / "data" / "tokens.json"
    files = [p for p in home.rglob("*") if p.is_file() and p != token_file]
    assert any(p.name.startswith("history") for p in files)
    leaks = [(where, secret[:6]) for where, text in outputs for secret in secrets if secret in text]
    leaks += [
        (str(path), secret[:6])
        for path in files
        for secret in secrets
        if secret.encode() in path.read_bytes()
    ]
    assert leaks == []
