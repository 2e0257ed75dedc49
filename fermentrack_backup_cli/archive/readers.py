"""Readers under the archive verifier: they count and content-hash every byte they pass on,
and hold decompression to bounds a Raspberry Pi can afford.

`HashingReader` wraps a forward-only stream, `SeekHashingReader` a seekable one (zip),
`XzReader` decompresses .xz with a memory limit, `TailReader` keeps the last
decompressed bytes of a tar stream and refuses a stream that expands far beyond its
compressed size (`LimitExceeded`). A failure of the underlying stream is re-raised as
`UnderlyingIOError`, so a network error mid-download is never mistaken for a corrupt
archive.
"""

from __future__ import annotations

import collections
import errno
import gzip
import lzma
import tempfile
from collections.abc import Callable
from typing import IO, Any, BinaryIO, Final, Protocol

from .. import errors
from ..contenthash import ContentHasher

CHUNK_SIZE: Final = 1024 * 1024
GAP_FILL_MAX: Final = 1024 * 1024  # zip: re-read skipped gaps up to this size for the hash
# tar: decompressed bytes kept (as references to the pieces read, not copies) to inspect
# the end-of-archive: more than tarfile's stream mode buffers (2 x its bufsize)
TAIL_KEEP: Final = 256 * 1024
XZ_INPUT: Final = 64 * 1024  # compressed bytes fed to the xz decoder at a time
# The xz decoder's memory is its dictionary: 64 MiB for `xz -9` (the most any preset uses),
# which needs 64.06 MiB. More would take a verify on a 512 MB Pi past 100 MB of RSS.
XZ_MEMLIMIT: Final = 65 * 1024 * 1024
# Content larger than this many times the compressed size (plus a floor for tiny archives)
# is refused before (zip) or while (tar) it is decompressed: a Fermentrack backup is text
# that compresses 5-50x; a zip bomb expands 1000x to millions of times.
EXPANSION_RATIO: Final = 1000
EXPANSION_FLOOR: Final = 16 * 1024 * 1024


def expansion_limit(compressed: int) -> int:
    """The most content an archive of `compressed` bytes may hold."""
    return EXPANSION_RATIO * compressed + EXPANSION_FLOOR


class LimitExceeded(Exception):
    """The archive would exceed a bound of the verifier (memory, expansion): not unpacked."""


class UnderlyingIOError(Exception):
    """Wraps an error raised by the caller's stream so it is never taken for corruption."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class Hasher(Protocol):
    size: int

    def update(self, data: bytes | bytearray | memoryview) -> None: ...

    def hexdigest(self) -> str: ...


class SizeCounter:
    """A Hasher that only counts: for a check fused into an upload, whose engine hashes."""

    def __init__(self) -> None:
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)

    def hexdigest(self) -> str:
        return ""


def new_hasher(hashing: bool) -> Hasher:
    return ContentHasher() if hashing else SizeCounter()


class HashingReader:
    """Sequential reader over the caller's stream that feeds a ContentHasher.

    `sniff` reads the first bytes and keeps them to be returned again by `read`.
    """

    def __init__(self, raw: BinaryIO, hasher: Hasher | None = None) -> None:
        self._raw = raw
        self._pending = b""
        self.hasher: Hasher = hasher if hasher is not None else ContentHasher()
        self.eof = False

    def _raw_read(self, n: int) -> bytes:
        try:
            data = self._raw.read(n)
        except Exception as exc:
            raise UnderlyingIOError(exc) from exc
        if not data:
            self.eof = True
            return b""
        self.hasher.update(data)
        return data

    def sniff(self, n: int) -> bytes:
        while len(self._pending) < n:
            data = self._raw_read(n - len(self._pending))
            if not data:
                break
            self._pending += data
        return self._pending[:n]

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            parts = [self._pending]
            self._pending = b""
            while data := self._raw_read(CHUNK_SIZE):
                parts.append(data)
            return b"".join(parts)
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        return self._raw_read(n)

    def drain(self) -> None:
        self._pending = b""
        while self._raw_read(CHUNK_SIZE):
            pass

    @property
    def size(self) -> int:
        return self.hasher.size


class SeekHashingReader:
    """Seekable view of the caller's stream that hashes the bytes it is asked for.

    The hash extends only over a contiguous prefix of the file: a read that starts at
    the hashed end extends it; a read after a small gap first fills the gap. `finish`
    reads whatever was never read, so the hash covers the whole file and every byte is
    read about once (zip's central directory, read first, is read again at the end).
    """

    def __init__(self, raw: IO[bytes], hasher: Hasher | None = None) -> None:
        self._raw = raw
        self._base = self._call(raw.tell)
        self._pos = 0
        self._hashed = 0
        self.hasher: Hasher = hasher if hasher is not None else ContentHasher()

    @staticmethod
    def _call(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise UnderlyingIOError(exc) from exc

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            target = self._base + offset
        elif whence == 1:
            target = self._base + self._pos + offset
        else:
            target = self._call(self._raw.seek, offset, 2)
        if target < self._base:
            raise OSError(errno.EINVAL, "seek before the start of the archive")
        self._pos = int(self._call(self._raw.seek, target)) - self._base
        return self._pos

    def _fill_gap(self, until: int) -> None:
        self._call(self._raw.seek, self._base + self._hashed)
        while self._hashed < until:
            data = self._call(self._raw.read, min(CHUNK_SIZE, until - self._hashed))
            if not data:
                break
            self.hasher.update(data)
            self._hashed += len(data)
        self._call(self._raw.seek, self._base + self._pos)

    def read(self, n: int | None = -1) -> bytes:
        start = self._pos
        if self._hashed < start <= self._hashed + GAP_FILL_MAX:
            self._fill_gap(start)
        data: bytes = self._call(self._raw.read, -1 if n is None else n)
        end = start + len(data)
        self._pos = end
        if start <= self._hashed < end:
            self.hasher.update(memoryview(data)[self._hashed - start :])
            self._hashed = end
        return data

    def peek_at(self, offset: int, n: int) -> bytes:
        """`n` bytes at `offset`, read around the hash (zip's local headers, read ahead
        of the members, must not pull the member data into the hash a second time)."""
        self._call(self._raw.seek, self._base + offset)
        data: bytes = self._call(self._raw.read, n)
        self._call(self._raw.seek, self._base + self._pos)
        return data

    def finish(self) -> int:
        """Hash the rest of the file; returns the file's size."""
        if isinstance(self.hasher, SizeCounter):  # nothing to hash: no need to read it
            return int(self._call(self._raw.seek, 0, 2)) - int(self._base)
        self._call(self._raw.seek, self._base + self._hashed)
        while data := self._call(self._raw.read, CHUNK_SIZE):
            self.hasher.update(data)
            self._hashed += len(data)
        self._pos = self._hashed
        return self._hashed


class XzReader:
    """Decompresses .xz data read from a HashingReader: concatenated streams and stream
    padding as xz writes them; anything else after a stream is corrupt (LZMAError).

    `lzma.LZMAFile` has no memory limit: a hostile header can ask for a 1.5 GiB
    dictionary. Here a stream needing more than `memlimit` raises LimitExceeded.
    """

    def __init__(self, raw: HashingReader, memlimit: int = XZ_MEMLIMIT) -> None:
        self._raw = raw
        self._memlimit = memlimit
        self._decoder = self._new_decoder()
        self._input = b""
        self._done = False

    def _new_decoder(self) -> lzma.LZMADecompressor:
        return lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=self._memlimit)

    def _next_stream(self) -> bool:
        """After the end of a stream: skip stream padding; whether another stream follows."""
        rest = self._decoder.unused_data
        while not (rest := rest.lstrip(b"\x00")):
            rest = self._raw.read(XZ_INPUT)
            if not rest:
                return False
        self._decoder = self._new_decoder()
        self._input = rest
        return True

    def read(self, n: int = -1) -> bytes:
        """Up to `n` decompressed bytes (`n` < 0: the next piece); b"" at the end."""
        size = n if n is not None and n > 0 else CHUNK_SIZE
        while not self._done:
            if self._decoder.eof:
                self._done = not self._next_stream()
                continue
            data = b""
            if self._decoder.needs_input:
                data, self._input = self._input or self._raw.read(XZ_INPUT), b""
                if not data:
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
            try:
                out = self._decoder.decompress(data, size)
            except lzma.LZMAError as exc:
                if "memory usage limit" in str(exc).lower():
                    raise LimitExceeded(
                        f"the xz data needs more than {self._memlimit >> 20} MiB of memory to "
                        "decompress (a larger dictionary than xz -9 uses)"
                    ) from None
                raise
            if out:
                return out
        return b""


class TailReader:
    """Decompressed-side reader for tarfile that remembers the last bytes handed out,
    so the data after tarfile's end-of-archive position can be checked.

    It refuses (LimitExceeded) a stream that expands beyond `expansion_limit` of the
    compressed bytes read so far, and, while `budget` is set, reads beyond it (tarfile
    reads a pax or GNU long-name header into memory whole, whatever size it claims).
    """

    def __init__(self, inner: XzReader | gzip.GzipFile, compressed: Callable[[], int]) -> None:
        self._inner = inner
        self._compressed = compressed
        self.total = 0
        self._recent: collections.deque[bytes] = collections.deque()
        self._kept = 0  # bytes in _recent
        self.budget: int | None = None

    def _take(self, n: int) -> bytes:
        data = self._inner.read(n)
        self.total += len(data)
        if self.total > expansion_limit(self._compressed()):
            raise LimitExceeded(
                f"it expands to more than {EXPANSION_RATIO} times its compressed size "
                "(a decompression bomb?)"
            )
        if self.budget is not None:
            self.budget -= len(data)
            if self.budget < 0:
                raise LimitExceeded("a tar header is larger than 1 MiB")
        return data

    def read(self, n: int = -1) -> bytes:
        data = self._take(n)
        self._recent.append(data)
        self._kept += len(data)
        while self._kept - len(self._recent[0]) >= TAIL_KEEP:
            self._kept -= len(self._recent.popleft())
        return data

    @property
    def tail(self) -> bytes:
        """The last TAIL_KEEP bytes (or fewer) read so far."""
        return b"".join(self._recent)[-TAIL_KEEP:]

    def rest_is_zero(self, end_offset: int) -> bool | None:
        """Read the stream to its end (so the compression's checks run) and say whether
        every byte from `end_offset` on is zero.

        None when there is nothing after `end_offset` (no end-of-archive marker).
        """
        self.budget = None
        seen = self.total - end_offset
        # tarfile buffers far less than TAIL_KEEP; if it ever did, skip what we cannot see
        tail = self.tail
        visible = min(max(seen, 0), len(tail))
        nonzero = any(tail[len(tail) - visible :]) if visible else False
        while chunk := self._take(CHUNK_SIZE):
            seen += len(chunk)
            nonzero = nonzero or any(chunk)
        if seen <= 0:
            return None
        return not nonzero


def spool_error(exc: OSError) -> errors.BackupError:
    """The error for a failed write of the temporary copy a zip check of a stream needs."""
    where = tempfile.gettempdir()
    if exc.errno == errno.ENOSPC:
        return errors.InsufficientSpace(
            f"no space left in the temporary folder {where} to check a zip archive "
            "(zip needs its whole file to be read)",
            "free space there, or point TMPDIR at a folder with room for the archive",
        )
    return errors.BackupError(
        f"cannot write the temporary copy a zip check needs in {where}: {exc.strerror or exc}",
        "point TMPDIR at a writable folder with room for the archive",
        code="spool_failed",
    )
