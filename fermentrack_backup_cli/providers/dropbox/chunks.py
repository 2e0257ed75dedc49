"""The chunk plan and the block reader: each byte read once, each 4 MiB block hashed once.

`plan_chunks` cuts a file into upload chunks that end on 4 MiB block boundaries (or at
the end); `BlockReader` reads a chunk with one `pread`, hashes each of its blocks once
(handing it, once, to a sink: the archive check fused into the upload), and derives the
chunk's content hash and, in the end, the whole file's from the same block digests.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator

from ... import errors
from ...contenthash import BLOCK_SIZE, combine
from ..base import SourceFile

# the chunk plan ----------------------------------------------------------------------


def span_end(pos: int, size: int, chunk_size: int) -> int:
    """End of the chunk starting at `pos`: chunks end on 4 MiB boundaries or at EOF."""
    return min(size, pos - pos % BLOCK_SIZE + chunk_size)


def plan_chunks(size: int, chunk_size: int, start: int = 0) -> Iterator[tuple[int, int]]:
    """(start, end) of every chunk from `start` to the end of the file."""
    if chunk_size <= 0 or chunk_size % BLOCK_SIZE:
        raise ValueError("the chunk size must be a positive multiple of 4 MiB")
    pos = start
    while pos < size:
        end = span_end(pos, size, chunk_size)
        yield pos, end
        pos = end


# one read, one hash ------------------------------------------------------------------


def _pread(fd: int, start: int, end: int, source: SourceFile) -> bytes:
    data = os.pread(fd, end - start, start)
    if len(data) == end - start:
        return data
    parts = [data]
    got = len(data)
    while got < end - start:  # short reads happen on some network filesystems
        more = os.pread(fd, end - start - got, start + got)
        if not more:
            raise errors.SourceChanged(
                f"{source.path} got shorter while uploading; nothing was stored",
                "wait until Fermentrack has finished writing the backup, then run again",
            )
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class BlockReader:
    """Reads byte ranges of the source and keeps the digest of every 4 MiB block."""

    def __init__(
        self,
        fd: int,
        source: SourceFile,
        digests: bytes = b"",
        sink: Callable[[memoryview], None] | None = None,
    ) -> None:
        self.fd = fd
        self.sink = sink  # given every byte once, in file order, as it is hashed
        self.source = source
        self.size = source.size
        self.digests = [digests[i : i + 32] for i in range(0, len(digests), 32)]
        self.hashed_to = len(self.digests) * BLOCK_SIZE  # every byte below is hashed

    def payload(self, start: int, end: int) -> tuple[bytes, str]:
        """The bytes of [start, end) and their Dropbox content hash."""
        low = min(start, self.hashed_to)  # a gap below `start` is read to hash it
        data = _pread(self.fd, low, end, self.source)
        view = memoryview(data)
        while self.hashed_to < end:
            block_end = min(self.hashed_to + BLOCK_SIZE, end)
            block = view[self.hashed_to - low : block_end - low]
            self.digests.append(hashlib.sha256(block).digest())
            if self.sink is not None:
                self.sink(block)
            self.hashed_to = block_end
        if start % BLOCK_SIZE == 0:
            first = start // BLOCK_SIZE
            chunk_hash = combine(self.digests[first : -(-end // BLOCK_SIZE)])
        else:  # realigning after an unaligned server offset: hash this chunk again
            chunk_hash = _hash_view(view[start - low :])
        return (data if low == start else data[start - low :]), chunk_hash

    def prefix_digests(self, committed: int) -> bytes:
        return b"".join(self.digests[: committed // BLOCK_SIZE])

    def file_hash(self) -> str:
        if self.hashed_to < self.size:  # a resume with nothing left to send: hash the tail
            self.payload(self.size, self.size)
        return combine(self.digests)


def _hash_view(view: memoryview) -> str:
    return combine(
        hashlib.sha256(view[i : i + BLOCK_SIZE]).digest() for i in range(0, len(view), BLOCK_SIZE)
    )
