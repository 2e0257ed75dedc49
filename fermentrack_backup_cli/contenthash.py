"""The content hash stored files carry: Dropbox's algorithm, with plain hashlib.

SHA-256 over the concatenated SHA-256 digests of each 4 MiB block. Our own module
because importing anything from the dropbox package loads the whole SDK. The
block digests are exposed so an upload engine can derive each chunk's hash and
the whole file's hash from one pass over the bytes.

`KIND` names this algorithm: a target declares the kind of hash it reports
(providers.base.Capabilities.hash_kind) and core code compares a local file's hash
with a stored one only when the kinds agree. Dropbox computes it on its side; the
local-folder target uses the same algorithm on the stored file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

KIND = "dropbox-content-hash"
BLOCK_SIZE = 4 * 1024 * 1024


class ContentHasher:
    """Incremental content hash; `block_digests` lists each finished block's digest."""

    def __init__(self) -> None:
        self._block = hashlib.sha256()
        self._block_pos = 0
        self.block_digests: list[bytes] = []
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self.size += len(view)
        while len(view):
            take = min(BLOCK_SIZE - self._block_pos, len(view))
            self._block.update(view[:take])
            self._block_pos += take
            view = view[take:]
            if self._block_pos == BLOCK_SIZE:
                self.block_digests.append(self._block.digest())
                self._block = hashlib.sha256()
                self._block_pos = 0

    def _all_digests(self) -> list[bytes]:
        if self._block_pos:
            return [*self.block_digests, self._block.digest()]
        return self.block_digests

    def hexdigest(self) -> str:
        return combine(self._all_digests())


def combine(block_digests: Iterable[bytes]) -> str:
    """The content hash of a byte range from its blocks' SHA-256 digests."""
    overall = hashlib.sha256()
    for digest in block_digests:
        overall.update(digest)
    return overall.hexdigest()


def content_hash(data: bytes | bytearray | memoryview) -> str:
    hasher = ContentHasher()
    hasher.update(data)
    return hasher.hexdigest()


def hash_file(path: Path, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
    """Size and content hash of a file, read once in 4 MiB blocks."""
    hasher = ContentHasher()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_SIZE):
            hasher.update(block)
            if progress is not None:
                progress(len(block))
    return hasher.size, hasher.hexdigest()
