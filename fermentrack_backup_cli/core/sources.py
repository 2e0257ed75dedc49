"""The archives an upload or verify is about: paths expanded, each archive checked.

A folder means every backup archive directly in it. `check_archive` refuses a damaged
archive; an unrecognised layout is not damage (`check_layout` warns, or refuses it
under --strict).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import errors
from ..fsutil import os_error
from ..models import ArchiveReport, is_archive_name


def expand_paths(paths: Sequence[Path], *, allow_any: bool = False) -> list[Path]:
    """Files as given; a directory means every backup archive directly in it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            try:
                archives = sorted(
                    p for p in path.iterdir() if p.is_file() and is_archive_name(p.name)
                )
            except OSError as exc:
                raise os_error(exc, "list", path) from None
            if not archives:
                raise errors.NoArchives(
                    f"no backup archives (*.tar.xz, *.tar.gz, *.tgz, *.zip) in {path}",
                    "point at Fermentrack's backup folder or at archive files",
                )
            found.extend(archives)
        elif path.is_file():
            if not allow_any and not is_archive_name(path.name):
                raise errors.NotAnArchive(
                    f"{path} is not a backup archive (expected .tar.xz, .tar.gz, .tgz or .zip)",
                    "pass Fermentrack backup archives, or --no-check to upload it anyway",
                )
            found.append(path)
        elif path.exists():
            raise errors.UsageError(f"{path} is not a regular file", "pass archive files")
        else:
            raise errors.NotFound(f"no such file or directory: {path}", "check the path")
    unique: dict[Path, None] = dict.fromkeys(p.absolute() for p in found)
    return list(unique)


def check_archive(path: Path) -> ArchiveReport:
    """Verify the archive; return the report, or raise when it is damaged.

    An unrecognised layout is not damage: the report says so (`layout`, `warnings`);
    `check_layout` decides what to do with it.
    """
    from ..archive import verify_file  # deferred: tarfile/lzma/zipfile

    report = verify_file(path)
    refuse_damaged(path, report)
    assert report.content_hash is not None
    return report


def refuse_damaged(path: Path, report: ArchiveReport) -> None:
    """Raise the error (exit 5) for an archive the check found damaged."""
    if not report.ok:
        problem = "; ".join(report.problems) or "unreadable"
        error = (
            errors.NotAnArchive if report.error_code == "not_an_archive" else errors.CorruptArchive
        )
        hint = (
            "it was not unpacked, to protect this machine; make a new backup in Fermentrack, "
            "or pass --no-check to upload it unchecked"
            if report.error_code == "exceeds_limits"
            else "the backup is damaged: make a new one in Fermentrack, or pass "
            "--no-check to upload it anyway"
        )
        raise error(
            f"{path.name}: {problem}; not uploaded",
            hint,
            code=report.error_code or error.code,
        )


def check_layout(path: Path, report: ArchiveReport, *, strict: bool) -> tuple[str, ...]:
    """The warnings to show for a sound archive; under `strict`, an unrecognised layout
    raises UnknownLayout instead."""
    if strict and report.layout == "unknown":
        raise errors.UnknownLayout(
            f"{path.name}: not a Fermentrack backup layout this tool recognises; "
            "not uploaded (--strict)",
            "check that the folder holds Fermentrack's backups (`fermentrack-backup verify "
            "FILE` names the layout), or drop --strict to upload it with a warning",
        )
    return report.warnings
