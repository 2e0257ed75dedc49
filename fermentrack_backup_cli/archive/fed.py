"""An archive check fed with the bytes an upload reads: one read, one hash per byte.

`FedCheck` runs `verify_stream` in a worker thread over `FedReader`, a file-like reader
whose bytes come from a bounded queue the upload fills (`feed`) as it reads the archive
in file order. The check does not hash (the upload engine already does), so each byte
is read once and hashed once; xz decompression releases the GIL and runs beside the
upload's hashing and sending. The queue holds at most `QUEUE_BLOCKS` pieces: when the
check is slower than the upload (xz on a Pi), `feed` waits, and memory stays flat.

Zip needs random access (its directory is at the end): a zip's check reads the file
itself in the worker, beside the upload (from the page cache the upload just filled),
and ignores what is fed.

`finish` waits for the report; `abort` ends the worker without one (the upload failed).
`early` is the report as soon as the check has one, before the upload has fed every
byte: a damaged archive found mid-way stops the upload there, not at its end.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import BinaryIO, Final, cast

from ..models import ArchiveReport
from .verify import archive_format, needs_seek, verify_file, verify_stream

QUEUE_BLOCKS: Final = 2  # pieces (of up to 4 MiB) waiting for the check: its buffers


class Aborted(Exception):
    """The upload stopped feeding: the check ends without a report."""


_END: Final = b""


class FedReader:
    """A forward-only reader over the pieces put in its queue (b"" ends the stream)."""

    def __init__(self, pieces: queue.Queue[bytes | memoryview | None]) -> None:
        self._pieces = pieces
        self._current = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def _next(self) -> bool:
        piece = self._pieces.get()
        if piece is None:
            raise Aborted
        if not piece:
            self._ended = True
            return False
        self._current = memoryview(piece)
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while data := self.read(1 << 20):
                parts.append(data)
            return b"".join(parts)
        while not len(self._current):
            if self._ended or not self._next():
                return b""
        data = bytes(self._current[:n])
        self._current = self._current[n:]
        return data


class FedCheck:
    """`verify_stream` of `path`'s bytes, as the upload feeds them, in a worker thread."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self._pieces: queue.Queue[bytes | memoryview | None] = queue.Queue(QUEUE_BLOCKS)
        self._report: ArchiveReport | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._fed = not needs_seek(archive_format(path.name))  # zip reads the file itself
        self._thread = threading.Thread(
            target=self._run, args=(size,), name="archive-check", daemon=True
        )
        self._thread.start()

    def _run(self, size: int) -> None:
        try:
            if self._fed:
                reader = FedReader(self._pieces)
                stream = cast(BinaryIO, reader)  # duck-typed: read() is all it uses
                self._report = verify_stream(
                    stream, str(self.path), size=size, hashing=False, stop_on_damage=True
                )
                while reader.read(1 << 20):  # a check that stopped early: take the rest
                    pass
            else:
                self._report = verify_file(self.path, hashing=False)
        except Aborted:
            pass
        except BaseException as exc:  # given to the upload's thread in `finish`
            self._error = exc
        finally:
            self._done.set()

    def early(self) -> ArchiveReport | None:
        """The report, if the check has reached one already (None: still reading)."""
        return self._report

    def feed(self, data: bytes | memoryview) -> None:
        """The next bytes of the archive, in file order. A view of immutable bytes (the
        Dropbox engine's chunks) is kept as it is: no copy, and the queue pins at most
        the chunks it refers to; anything else (a reused read buffer) is copied."""
        if not self._fed or not len(data):
            return
        piece: bytes | memoryview = data
        if not isinstance(data, bytes) and not isinstance(data.obj, bytes):
            piece = bytes(data)
        while not self._done.is_set():
            try:
                self._pieces.put(piece, timeout=0.5)
                return
            except queue.Full:
                continue

    def finish(self) -> ArchiveReport:
        """Every byte was fed: the report (an error of the check itself is raised)."""
        if self._fed:
            self._put_last(_END)
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._report is not None
        return self._report

    def abort(self) -> None:
        """The upload failed: end the worker without a report."""
        if self._fed:
            self._put_last(None)
        self._thread.join()

    def _put_last(self, item: bytes | memoryview | None) -> None:
        while not self._done.is_set():
            try:
                self._pieces.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
