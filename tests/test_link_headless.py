"""`link dropbox` without a browser: paste a code or the landed address, or two steps."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fermentrack_backup_cli.errors import ExitCode
from tests.cli_helpers import EXE, run, run_json
from tests.link_support import addresses, code_shown, headless_env, landed_address


@pytest.fixture
def paste(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """In-process headless runs: capture the attempt, then paste what `answer(start)` gives."""
    answers: list[Any] = []

    def announce(out: Any, spec: Any, start: Any, port: int) -> None:
        answers.append(start)

    def read_line(spec: Any) -> str:
        start = answers.pop()
        return str(answers.pop(0)(start))

    monkeypatch.setattr("fermentrack_backup_cli.cli.link._announce_headless", announce)
    monkeypatch.setattr("fermentrack_backup_cli.cli.link._read_line", read_line)
    return answers


def test_headless_mode_links_with_the_code_pasted_on_stdin(
    fake_dropbox: Any, dropbox_env: dict[str, str]
) -> None:
    proc = subprocess.Popen(
        [EXE, "link", "dropbox"],  # no DISPLAY and no BROWSER: headless by itself
        env={**headless_env(dropbox_env), "SSH_CONNECTION": "192.0.2.7 50000 192.0.2.10 22"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None and proc.stdin is not None
    seen: list[str] = []
    while not addresses("".join(seen)) or "ssh -L" not in "".join(seen):
        line = proc.stderr.readline()
        assert line, "".join(seen)
        seen.append(line)
    code = code_shown(fake_dropbox, addresses("".join(seen))[0])
    out, err = proc.communicate(code + "\n", timeout=30)
    assert proc.returncode == 0, err
    assert "linked Dropbox account Fake Brewer <brewer@example.com>" in out
    assert "ssh -L 53682:localhost:53682 " in "".join(seen)
    assert "  ssh -L 53682:localhost:53682 " in seen[-1] and seen[-1].endswith("@192.0.2.10\n")


def test_headless_mode_links_with_the_landed_localhost_address_pasted(
    fake_dropbox: Any, paste: list[Any]
) -> None:
    paste.append(lambda start: landed_address(fake_dropbox, start.redirect_url))
    result = run("link", "dropbox", "--no-browser", "--label", "brewery")
    assert result.exit_code == 0, result.stderr
    assert [c["label"] for c in run_json("connections")["connections"]] == ["brewery"]


def test_a_pasted_address_from_another_attempt_is_an_invalid_state(
    fake_dropbox: Any, paste: list[Any]
) -> None:
    def forged(start: Any) -> str:
        return landed_address(fake_dropbox, start.redirect_url).replace("state=", "state=x")

    paste.append(forged)
    result = run("link", "dropbox", "--no-browser")
    assert result.exit_code == ExitCode.AUTH
    assert "Invalid state parameter" in result.stderr
    assert run_json("connections")["connections"] == []


def test_the_same_code_cannot_be_used_twice(fake_dropbox: Any, paste: list[Any]) -> None:
    used: list[str] = []

    def once(start: Any) -> str:
        used.append(code_shown(fake_dropbox, start.code_url))
        return used[0]

    paste.append(once)
    assert run("link", "dropbox", "--no-browser").exit_code == 0
    paste.append(lambda start: used[0])
    again = run("link", "dropbox", "--no-browser")
    assert again.exit_code == ExitCode.AUTH
    assert "the code is invalid or already used" in again.stderr


def test_two_steps_print_the_url_then_complete_with_the_code(fake_dropbox: Any, home: Path) -> None:
    first = run("link", "dropbox", "--print-url")
    assert first.exit_code == 0, first.stderr
    url = first.stdout.strip()
    pending = home / "state" / "pending-auth.json"
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600
    assert set(json.loads(pending.read_text())) == {
        "version",
        "state",
        "code_verifier",
        "redirect_uri",
        "created_at",
    }
    second = run("link", "dropbox", "--code", code_shown(fake_dropbox, url))
    assert second.exit_code == 0, second.stderr
    assert not pending.exists()
    assert len(run_json("connections")["connections"]) == 1


def test_two_steps_accept_the_landed_address_and_read_dash_from_stdin(
    fake_dropbox: Any,
) -> None:
    first = run("link", "dropbox", "--print-url")
    alternative = addresses(first.stderr.replace(": https://", ":\n https://"))[-1]
    landed = landed_address(fake_dropbox, alternative)
    second = run("link", "dropbox", "--code", "-", input=landed + "\n")
    assert second.exit_code == 0, second.stderr


def test_an_expired_two_step_attempt_gives_invalid_state(fake_dropbox: Any, home: Path) -> None:
    url = run("link", "dropbox", "--print-url").stdout.strip()
    pending = home / "state" / "pending-auth.json"
    record = json.loads(pending.read_text())
    record["created_at"] -= 601
    pending.write_text(json.dumps(record))
    result = run("link", "dropbox", "--code", code_shown(fake_dropbox, url))
    assert result.exit_code == ExitCode.AUTH
    assert "Invalid state parameter" in result.stderr
    assert "link dropbox" in result.stderr  # the hint: start again


def test_a_code_without_a_started_attempt_gives_invalid_state(fake_dropbox: Any) -> None:
    result = run("link", "dropbox", "--code", "some-code-of-the-usual-length-43-characters")
    assert result.exit_code == ExitCode.AUTH
    assert "link dropbox" in result.stderr
    assert fake_dropbox.requests == []


def test_cancel_at_dropbox_in_the_pasted_address_is_access_denied(
    fake_dropbox: Any, paste: list[Any]
) -> None:
    fake_dropbox.deny_authorization = True
    paste.append(lambda start: landed_address(fake_dropbox, start.redirect_url))
    result = run("link", "dropbox", "--no-browser")
    assert result.exit_code == ExitCode.AUTH
    assert "cancelled" in result.stderr
