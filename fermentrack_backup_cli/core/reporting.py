"""How an upload reports what it does: the Reporter protocol (output.py implements it)
and a guard that keeps output failures from stopping a run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from ..models import UploadResult

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """How an upload tells the outside world what it does (output.py implements it)."""

    def file_started(self, name: str, size: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def file_done(self, result: UploadResult, *, fatal: bool = False) -> None:
        """`fatal`: the run stops with this file's error, which the caller raises (and
        the error boundary shows): finish its progress, show nothing for it."""

    def warning(self, name: str, text: str) -> None: ...


class GuardedReporter:
    """A reporter whose I/O failures (a closed stdout, a hung-up terminal) are logged and
    dropped: they are output problems, never the archive's, and must not stop a run."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    def file_started(self, name: str, size: int) -> None:
        with _output_errors_dropped():
            self.inner.file_started(name, size)

    def advance(self, nbytes: int) -> None:
        with _output_errors_dropped():
            self.inner.advance(nbytes)

    def file_done(self, result: UploadResult, *, fatal: bool = False) -> None:
        with _output_errors_dropped():
            self.inner.file_done(result, fatal=fatal)

    def warning(self, name: str, text: str) -> None:
        with _output_errors_dropped():
            self.inner.warning(name, text)


@contextmanager
def _output_errors_dropped() -> Iterator[None]:
    try:
        yield
    except (OSError, ValueError):  # ValueError: a write to a closed stream
        log.debug("a progress report could not be shown", exc_info=True)
