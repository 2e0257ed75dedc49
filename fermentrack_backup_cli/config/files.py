"""Reading the small files settings come from: config.toml and Fermentrack's env file.

Both must be regular files under 1 MiB: a FIFO or a device named by mistake is
refused after a stat, before anything opens it for reading (it could block forever).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .. import errors

MAX_FILE_BYTES = 1 << 20  # a config or env file is a few hundred bytes; 1 MiB is plenty


class FileRefused(ValueError):
    """A config or env file that is not a regular file under MAX_FILE_BYTES."""


def read_small_file(path: Path) -> bytes:
    """The bytes of a regular file under 1 MiB. Never blocks: a FIFO, a device or a
    directory is refused after a stat, before anything opens it for reading; the open
    itself is non-blocking and re-checked with fstat (the path may change in between).
    Raises FileRefused, or OSError (FileNotFoundError for a missing file)."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise FileRefused("it is not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("it is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise FileRefused(f"it is larger than {MAX_FILE_BYTES // (1 << 20)} MiB")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > MAX_FILE_BYTES:  # it grew while we read
                raise FileRefused(f"it is larger than {MAX_FILE_BYTES // (1 << 20)} MiB")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


ENV_FILE_HINT = "fix the path with `fermentrack-backup config set env_file PATH` or unset it"


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a Fermentrack/django-environ style file of KEY=value lines."""
    values: dict[str, str] = {}
    try:
        text = read_small_file(path).decode("utf-8")
    except FileRefused as exc:
        raise errors.ConfigError(f"cannot read env_file {path}: {exc}", ENV_FILE_HINT) from None
    except UnicodeDecodeError:
        raise errors.ConfigError(
            f"cannot read env_file {path}: it is not UTF-8 text",
            "point env_file at Fermentrack's .django env file (KEY=value lines), "
            "or convert it to UTF-8",
        ) from None
    except OSError as exc:
        raise errors.ConfigError(
            f"cannot read env_file {path}: {exc.strerror or exc}", ENV_FILE_HINT
        ) from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values
