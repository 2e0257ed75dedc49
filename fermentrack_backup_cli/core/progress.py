"""Byte progress of long reads (deep verify, download): the Watcher the CLI implements."""

from __future__ import annotations

from typing import BinaryIO, Protocol


class Watcher(Protocol):
    """Byte progress of one stream at a time (the CLI shows a bar on a terminal)."""

    def started(self, name: str, total: int, done: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def finished(self, complete: bool = True) -> None:
        """The stream is done: read whole (`complete`: the bar ends at 100%) or not."""


class NullWatcher:
    def started(self, name: str, total: int, done: int) -> None:
        return None

    def advance(self, nbytes: int) -> None:
        return None

    def finished(self, complete: bool = True) -> None:
        return None


class CountingReader:
    """Passes reads (and seeks, for zip) through, reporting bytes to a Watcher."""

    def __init__(self, raw: BinaryIO, watcher: Watcher) -> None:
        self.raw = raw
        self.watcher = watcher

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.watcher.advance(len(data))
        return data

    def seekable(self) -> bool:
        return self.raw.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()
