"""What every target offers core code: the Target protocol and its declared Capabilities.

A *provider* is a kind of storage (providers.spec); a *target* is one connection's
remote folder on it. Targets get everything they need passed in (folders, a token
store, a retry policy with the run's deadline, a resume store, progress callbacks)
and never read config or call back into core. Core code asks a target's
`capabilities` instead of knowing which provider it is: which hash its stored
files carry, whether names differ by case, which names it refuses, whether an
upload resumes, whether it reports space.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from .. import errors
from ..models import RemoteFile, ResumeRecord

Progress = Callable[[int], None]
"""Called with the number of bytes just transferred."""


def no_progress(_: int) -> None:
    return None


class Check(Protocol):
    """A check of the archive fused into its upload: fed the bytes the upload reads, in
    file order, each byte once. A target calls `finish` before it commits the stored
    copy: it raises (a BackupError) when the archive is damaged, and then nothing is
    committed (a session is abandoned, a temp file removed). `abort` ends a check whose
    upload failed."""

    def feed(self, data: bytes | memoryview) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class SourceFile:
    """A local archive about to be uploaded, with the identity taken before reading."""

    path: Path
    name: str
    size: int
    mtime_ns: int
    content_hash: str | None = None  # known when a check pass already read the file

    @classmethod
    def from_path(cls, path: Path, content_hash: str | None = None) -> SourceFile:
        st = path.stat()
        return cls(path, path.name, st.st_size, st.st_mtime_ns, content_hash)

    def check_unchanged(self, fd: int | None = None) -> None:
        """Raise SourceChanged when the file is not what it was when we started."""
        try:
            st = os.fstat(fd) if fd is not None else self.path.stat()
        except FileNotFoundError:
            raise errors.SourceChanged(
                f"{self.path} vanished while uploading; nothing was stored",
                "make sure nothing deletes backups while they upload, then run again",
            ) from None
        if st.st_size != self.size or st.st_mtime_ns != self.mtime_ns:
            raise errors.SourceChanged(
                f"{self.path} changed while uploading; nothing was stored",
                "wait until Fermentrack has finished writing the backup, then run again",
            )


@dataclass(frozen=True)
class Stored:
    """What a target holds after an upload."""

    file: RemoteFile
    resumed_from: int | None = None


@dataclass(frozen=True)
class Space:
    used: int
    allocated: int | None

    @property
    def free(self) -> int | None:
        return None if self.allocated is None else max(0, self.allocated - self.used)


_CHAR_NAMES = {" ": "a space", ".": "a dot"}


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or char == "\x7f"


@dataclass(frozen=True)
class NameRules:
    """Which file names a target stores. `problem` says why a name is refused, or None."""

    where: str  # for messages: "Dropbox", "this folder's filesystem"
    max_bytes: int = 255
    forbidden: str = "/\x00"  # characters a name must not contain
    control: bool = False  # whether control characters are refused too
    no_trailing: str = ""  # characters a name must not end with (Dropbox: " .")
    reserved: frozenset[str] = frozenset()  # names refused whatever their case

    def problem(self, name: str) -> str | None:
        if not name or name in (".", ".."):
            return "is empty or a folder reference"
        if len(name.encode("utf-8", "surrogateescape")) > self.max_bytes:
            return f"is longer than {self.max_bytes} bytes"
        if self.no_trailing and name.endswith(tuple(self.no_trailing)):
            return "ends with " + " or ".join(_CHAR_NAMES.get(c, repr(c)) for c in self.no_trailing)
        if any(c in self.forbidden or (self.control and _is_control(c)) for c in name):
            return "contains characters " + self.where + " does not allow"
        if name.lower() in self.reserved:
            return f"is a name {self.where} does not store"
        return None

    def check(self, name: str) -> None:
        """Refuse, before any byte is sent, a name the target would reject."""
        problem = self.problem(name)
        if problem:
            raise errors.RemoteNameError(
                f"cannot store {name!r}: the name {problem}",
                f"rename the archive (at most {self.max_bytes} bytes, no control characters"
                + (", no trailing dots or spaces" if self.no_trailing else "")
                + ")",
            )


@dataclass(frozen=True)
class Capabilities:
    """What core code must know about a target, declared by its provider."""

    hash_kind: str  # the kind of `RemoteFile.content_hash` it reports (contenthash.KIND)
    case_sensitive: bool  # whether `a.tar.xz` and `A.tar.xz` are two files
    name_rules: NameRules
    resumable_uploads: bool  # an interrupted upload continues in a later run
    reports_space: bool  # `space()` says how much is used and allocated
    lists_hashes: bool  # `list_files()` carries content hashes (else `stat` computes one)

    def key(self, name: str) -> str:
        """The name as the target compares names."""
        return name if self.case_sensitive else name.casefold()


class ResumeStore(Protocol):
    """Where a provider keeps the records of its resumable uploads, by remote path."""

    def load(self, remote_path: str) -> ResumeRecord | None: ...

    def save(self, remote_path: str, record: ResumeRecord) -> None: ...

    def drop(self, remote_path: str) -> None: ...


class NoResume:
    """A store that forgets: uploads still work, they just cannot resume."""

    def load(self, remote_path: str) -> ResumeRecord | None:
        return None

    def save(self, remote_path: str, record: ResumeRecord) -> None:
        return None

    def drop(self, remote_path: str) -> None:
        return None


class Target(Protocol):
    """One connection's remote folder."""

    provider_id: str

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def description(self) -> str:
        """Where files go, for messages: a folder path or Dropbox:/folder."""
        ...

    @property
    def lock_key(self) -> str:
        """What one run lock covers: the same storage however it was named."""
        ...

    def begin_run(self) -> None:
        """Called under the run lock before an upload run: clean up after killed runs."""
        ...

    def remote_path(self, name: str) -> str: ...

    def list_files(self) -> Iterator[RemoteFile]:
        """Every file directly in the remote folder (an absent folder lists nothing)."""
        ...

    def stat(self, name: str) -> RemoteFile | None: ...

    def upload(
        self,
        source: SourceFile,
        *,
        overwrite: bool,
        progress: Progress = no_progress,
        check: Check | None = None,
    ) -> Stored:
        """Store `source` as `source.name`; check the stored copy's size and hash. With
        `check`, feed it every byte read and commit only when its `finish` passes."""
        ...

    def open_read(self, name: str, offset: int = 0) -> BinaryIO:
        """A stream of the stored file's bytes from `offset`."""
        ...

    def delete(self, names: Sequence[str]) -> list[str]:
        """Delete stored files; returns the names deleted."""
        ...

    def space(self) -> Space | None: ...
