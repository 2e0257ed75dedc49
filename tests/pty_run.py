"""Run the installed CLI on a real pseudo-terminal of a given width (as over SSH)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

from tests.cli_helpers import EXE

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def on_terminal(
    *args: str, env: dict[str, str], columns: int = 80, stdin: bytes | None = None
) -> tuple[int, str]:
    """(exit code, what the terminal received: stdout and stderr, escapes kept)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**env, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [EXE, *args],
        env=env,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    output = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    return proc.wait(timeout=60), output.decode("utf-8", "replace")


def plain(text: str) -> list[str]:
    """The terminal's lines without escape sequences (and carriage returns)."""
    return [ANSI.sub("", line).rstrip("\r") for line in text.replace("\r\n", "\n").split("\n")]


def typed_at_prompt(
    *args: str, env: dict[str, str], prompt: str, keys: bytes, columns: int = 80
) -> tuple[int, str]:
    """Run the CLI with the terminal as its stdin too (its controlling terminal, so ^C is
    SIGINT from the line discipline, as a user's key would be), wait for `prompt` to be
    shown, then type `keys` (b"\\x04": Ctrl-D, end of input; b"\\x03": Ctrl-C).
    (exit code, what the terminal received)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**env, "COLUMNS": str(columns), "TERM": "xterm-256color"}

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [EXE, *args],
        env=env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        preexec_fn=controlling_terminal,  # (the test process starts no threads before)
    )
    os.close(secondary)
    output = b""
    sent = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not sent and prompt.encode() in output:
            time.sleep(0.2)  # the prompt is shown before the terminal's echo is turned off
            os.write(primary, keys)
            sent = True
    os.close(primary)
    return proc.wait(timeout=60), output.decode("utf-8", "replace")
