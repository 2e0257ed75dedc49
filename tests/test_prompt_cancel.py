"""Ctrl-C or Ctrl-D at any prompt is `cancelled` (130) with an `error:` and a `hint:`
line, never click's `Aborted!` and exit 1 (issue 10). Typed on a real terminal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fermentrack_backup_cli import errors
from tests.cli_helpers import EXE, cli
from tests.pty_run import plain, typed_at_prompt

CTRL_D, CTRL_C = b"\x04", b"\x03"
CANCELLED = [
    "error: cancelled at the prompt (Ctrl-C or end of input): nothing changed",
    "hint: run the command again and answer the prompt",
]


def _linked_folder(tmp_path: Path, env: dict[str, str]) -> str:
    folder = tmp_path / "usb"
    folder.mkdir()
    linked = cli("link", "local", str(folder), "--label", "usb", env=env)
    assert linked.returncode == 0, linked.stderr
    return "usb"


def _prompts(tmp_path: Path, env: dict[str, str]) -> dict[str, tuple[list[str], str]]:
    return {
        "app_secret": (["config", "set", "dropbox.app_secret"], "dropbox.app_secret:"),
        "code": (["link", "dropbox", "--no-browser"], "Code or address (input hidden)"),
        "unlink": (["unlink", _linked_folder(tmp_path, env)], "Its upload history is kept."),
    }


@pytest.mark.parametrize("keys", [CTRL_D, CTRL_C], ids=["ctrl-d", "ctrl-c"])
@pytest.mark.parametrize("prompt", ["app_secret", "code", "unlink"])
def test_a_cancelled_prompt_is_cancelled_with_a_hint(
    prompt: str, keys: bytes, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    args, shown_first = _prompts(tmp_path, dropbox_env)[prompt]
    code, shown = typed_at_prompt(*args, env=dropbox_env, prompt=shown_first, keys=keys)
    lines = [line for line in plain(shown) if line.strip()]
    assert code == errors.ExitCode.CANCELLED, lines
    assert lines[-2:] == CANCELLED, lines
    assert "Aborted" not in shown and "Traceback" not in shown
    if prompt == "unlink":
        assert "usb" in cli("connections", env=dropbox_env).stdout  # still linked


def test_answering_no_to_unlink_is_cancelled(dropbox_env: dict[str, str], tmp_path: Path) -> None:
    label = _linked_folder(tmp_path, dropbox_env)
    code, shown = typed_at_prompt("unlink", label, env=dropbox_env,
                                  prompt="Its upload history is kept.", keys=b"n\r")  # fmt: skip
    lines = [line for line in plain(shown) if line.strip()]
    assert code == errors.ExitCode.CANCELLED, lines
    assert lines[-2:] == [
        "error: cancelled: nothing was unlinked",
        "hint: run `fermentrack-backup unlink` again to unlink it",
    ]


@pytest.mark.parametrize("prompt", ["app_secret", "code", "unlink"])
def test_no_prompt_waits_on_a_stdin_at_end_of_input(
    prompt: str, dropbox_env: dict[str, str], tmp_path: Path
) -> None:
    """`</dev/null` (cron, a pipe): no prompt; a usage error (2) that says what to pass."""
    args, _ = _prompts(tmp_path, dropbox_env)[prompt]
    result = subprocess.run([EXE, *args], env=dropbox_env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    lines = result.stderr.splitlines()
    assert result.returncode == errors.ExitCode.USAGE, lines
    assert lines[-2].startswith("error: ") and lines[-1].startswith("hint: "), lines
    assert "Aborted" not in result.stderr
