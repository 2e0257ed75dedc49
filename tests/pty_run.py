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
    try:
        output = drain(primary)
    except TimeoutError:
        proc.kill()
        raise
    return proc.wait(timeout=60), output.decode("utf-8", "replace")


def drain(primary: int, quiet_for: float = 60) -> bytes:
    """Everything the child writes to its terminal until it closes it (then `primary` is
    closed); TimeoutError after `quiet_for` seconds without output."""
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([primary], [], [], quiet_for)
            if not ready:
                raise TimeoutError(f"no output for {quiet_for:.0f} s")
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
    return b"".join(chunks)


def plain(text: str) -> list[str]:
    """The terminal's lines without escape sequences (and carriage returns)."""
    return [ANSI.sub("", line).rstrip("\r") for line in text.replace("\r\n", "\n").split("\n")]


_OUTPUT = re.compile(
    r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|[\r\n]|[^\x1b\r\n]"
)


def replay(text: str, columns: int = 80, watch: str = "") -> tuple[list[str], int]:
    """What a terminal of `columns` shows after `text` (a minimal emulator: cursor
    up, erase line, carriage return, newline, auto-wrap; colours ignored), and the
    most lines that ever showed `watch` at once (a status line is one, a pile many)."""
    rows: list[list[str]] = [[]]
    row = col = peak = 0
    for match in _OUTPUT.finditer(text):
        token = match.group(0)
        if match.group(2) == "A":
            row = max(0, row - int(match.group(1) or 1))
            col = min(col, columns - 1)
        elif match.group(2) == "K" and match.group(1) == "2":
            rows[row] = []
        elif token == "\r":
            col = 0
        elif token == "\n":
            row += 1
        elif not token.startswith("\x1b"):
            if col >= columns:  # the terminal wraps before the character after the last
                row, col = row + 1, 0
            while row >= len(rows):
                rows.append([])
            line = rows[row]
            line.extend(" " * (col + 1 - len(line)))
            line[col] = token
            col += 1
        while row >= len(rows):
            rows.append([])
        if watch:
            peak = max(peak, sum(watch in "".join(line) for line in rows))
    return ["".join(line).rstrip() for line in rows], peak


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
