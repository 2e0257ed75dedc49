"""Run the installed CLI on a real pseudo-terminal of a given width (as over SSH)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios

from tests.cli_helpers import EXE

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def on_terminal(
    *args: str,
    env: dict[str, str],
    columns: int = 80,
    stdin: bytes | None = None,
    columns_env: str | None = None,
    term: str = "xterm-256color",
) -> tuple[int, str]:
    """(exit code, what the terminal received: stdout and stderr, escapes kept).
    `columns_env`: COLUMNS as set in the environment, when it should differ from the
    terminal's real width (`columns`)."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    shown = str(columns) if columns_env is None else columns_env
    env = {**env, "COLUMNS": shown, "TERM": term}
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
