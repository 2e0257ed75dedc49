"""The verify use case for local archives: check each one, and with a target, that its
stored copy has the same size and content hash (of the target's declared kind)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .. import contenthash
from ..models import ArchiveReport
from ..providers.base import Target
from ..units import size_pair
from .sources import expand_paths
from .targets import Targets


def verify_paths(targets: Targets, paths: Sequence[Path], to: str | None) -> list[ArchiveReport]:
    """Check each archive; with `to`, also that the stored copy matches it."""
    from ..archive import verify_file  # deferred: tarfile/lzma/zipfile

    files = expand_paths(paths, allow_any=True)
    target = targets.open(to).target if to is not None else None
    reports = []
    for path in files:
        report = verify_file(path)
        if target is not None and report.content_hash is not None:
            report = _compare_stored(target, report, path.name)
        reports.append(report)
    return reports


def _compare_stored(target: Target, report: ArchiveReport, name: str) -> ArchiveReport:
    stored = target.stat(name)
    if stored is None:
        problem, code = f"no stored copy at {target.remote_path(name)}", "remote_missing"
    elif stored.size != report.size:
        held, local = size_pair(stored.size, report.size)
        problem = f"stored copy is {held}, local is {local}"
        code = "verify_mismatch"
    elif target.capabilities.hash_kind != contenthash.KIND:  # nothing to compare with
        return report
    elif stored.content_hash != report.content_hash:
        problem, code = (
            "stored copy's content hash differs from the local archive",
            "verify_mismatch",
        )
    else:
        return report
    return replace(
        report, ok=False, problems=(*report.problems, problem), error_code=report.error_code or code
    )
