"""The archive check an upload feeds (providers.base.Check): one pass over the bytes.

The target reads the archive once; every byte it reads goes to the check too
(`archive.fed`: a worker thread unpacks and checks what it is fed). Before the target
commits, `finish` raises the same error a separate check would have (exit 5), so a
damaged archive is never stored; a sound one's layout warnings are kept for the report.
`feed` raises that error as soon as the check has found the damage, so the upload
stops there instead of sending the rest of a file it will not commit.
"""

from __future__ import annotations

from pathlib import Path

from .sources import check_layout, refuse_damaged


class ArchiveCheck:
    """A `Check` of the archive at `path` (`size` bytes), started at once."""

    def __init__(self, path: Path, size: int, strict: bool = False) -> None:
        from ..archive.fed import FedCheck  # deferred: tarfile/lzma/zipfile

        self.path = path
        self.strict = strict
        self.warnings: tuple[str, ...] = ()
        self._fed = FedCheck(path, size)
        self._judged = False  # the early report was looked at (and was sound)

    def feed(self, data: bytes | memoryview) -> None:
        self._fed.feed(data)
        if not self._judged and (report := self._fed.early()) is not None:
            self._judged = True
            refuse_damaged(self.path, report)

    def finish(self) -> None:
        report = self._fed.finish()
        refuse_damaged(self.path, report)
        self.warnings = check_layout(self.path, report, strict=self.strict)

    def abort(self) -> None:
        self._fed.abort()


def check_archive(path: Path, strict: bool = False) -> ArchiveCheck:
    """The check an upload of `path` feeds (its size taken now, as the upload's)."""
    return ArchiveCheck(path, path.stat().st_size, strict)
