"""What is checked of every archive member, whatever the format: its name and link
target are safe to extract, and it is read to its end (a `.json` member validated on
the way, the data dump candidates collected for `layouts`)."""

from __future__ import annotations

import posixpath
from typing import IO, Final

from .jsonscan import scan_json
from .layouts import DumpCandidates

MEMBER_READ: Final = 256 * 1024  # members are read this much at a time (small: RSS)

CORRUPT: Final = "corrupt_archive"
NOT_AN_ARCHIVE: Final = "not_an_archive"
UNSAFE: Final = "unsafe_member"
EXCEEDS: Final = "exceeds_limits"
UNKNOWN_LAYOUT: Final = "unknown_layout"  # error code under --strict only


class Findings:
    def __init__(self) -> None:
        self.members = 0
        self.problems: list[tuple[str, str]] = []  # (error_code, message)
        self.dumps = DumpCandidates()

    def add(self, code: str, message: str) -> None:
        self.problems.append((code, message))

    def has(self, code: str) -> bool:
        return any(c == code for c, _ in self.problems)


def path_problem(name: str) -> str | None:
    if not name:
        return "empty member name"
    if _absolute(name):
        return "absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "path contains '..'"
    return None


def _absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":" and path[0].isalpha())


def _escapes(path: str) -> bool:
    """Whether a path, relative to the archive root, leaves the root."""
    if _absolute(path):
        return True
    norm = posixpath.normpath(path.replace("\\", "/"))
    return norm == ".." or norm.startswith("../")


def check_link(f: Findings, name: str, target: str, *, hard: bool) -> None:
    """Hard link targets are relative to the archive root, symlinks to their directory."""
    resolved = (
        target if hard or _absolute(target) else posixpath.join(posixpath.dirname(name), target)
    )
    if _escapes(resolved):
        kind = "hard link" if hard else "symlink"
        f.add(UNSAFE, f"unsafe member {name!r}: {kind} to {target!r} leaves the archive")


def read_member(f: Findings, name: str, stream: IO[bytes]) -> None:
    """Read a member to its end; a `.json` member is validated on the way."""
    f.dumps.member(name)
    if name.lower().endswith(".json"):
        f.dumps.json_member(name, scan_json(stream.read))
    while stream.read(MEMBER_READ):
        pass
