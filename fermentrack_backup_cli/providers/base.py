"""The Provider and Target protocols every storage backend implements.

A *provider* is a kind of storage (dropbox, local); a *target* is one
connection's remote folder on it. Targets get everything they need passed in
(paths, token getters, CA bundle, progress callbacks) and never read config.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from .. import errors
from ..models import RemoteFile

Progress = Callable[[int], None]
"""Called with the number of bytes just transferred."""


def no_progress(_: int) -> None:
    return None


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


class Target(Protocol):
    """One connection's remote folder."""

    provider_id: str

    @property
    def description(self) -> str:
        """Where files go, for messages: a folder path or Dropbox:/folder."""
        ...

    def remote_path(self, name: str) -> str: ...

    def list_files(self) -> Iterator[RemoteFile]:
        """Every file directly in the remote folder (an absent folder lists nothing)."""
        ...

    def stat(self, name: str) -> RemoteFile | None: ...

    def upload(
        self, source: SourceFile, *, overwrite: bool, progress: Progress = no_progress
    ) -> Stored:
        """Store `source` as `source.name`; check the stored copy's size and hash."""
        ...

    def open_read(self, name: str, offset: int = 0) -> BinaryIO:
        """A stream of the stored file's bytes from `offset`."""
        ...

    def delete(self, names: Sequence[str]) -> list[str]:
        """Delete stored files; returns the names deleted."""
        ...

    def space(self) -> Space | None: ...
