"""Renderings more than one command shows: the prune plan, byte progress of long reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from ..core.progress import NullWatcher, Watcher
from ..core.prune import PruneReport
from ..output import Output
from ..output_progress import byte_progress
from ..retention import Decision
from ..units import human_size


@contextmanager
def watching(out: Output) -> Iterator[Watcher]:
    """Progress bars on a terminal only; cron and --json get none."""
    with byte_progress(out) as bars:
        yield bars if bars is not None else NullWatcher()


def exit_with(code: int) -> None:
    if code:
        raise typer.Exit(code)


def _action(decision: Decision, dry_run: bool) -> str:
    if decision.left_alone:
        return "left alone"
    if decision.keep:
        return "keep"
    return "would remove" if dry_run else "remove"


def show_prune(out: Output, report: PruneReport) -> None:
    """The plan as a table (kept with their rules, removed, left alone with why), then one
    summary line."""
    rows = [
        (
            _action(d, report.dry_run),
            d.file.name,
            human_size(d.file.size),
            ", ".join(d.reasons),
        )
        for d in report.decisions
    ]
    if rows:
        title = f"Prune {report.target} ({report.policy})"
        out.table(title, ("action", "name", "size", "why"), rows)
    gone = [d.file for d in report.removed if report.dry_run or d.file.name in report.deleted]
    verb = "would remove" if report.dry_run else "removed"
    freed = human_size(sum(f.size for f in gone))
    alone = f", left alone {len(report.left_alone)}" if report.left_alone else ""
    out.info(f"kept {len(report.kept)}, {verb} {len(gone)} backup(s) ({freed}){alone}")
    for name in report.failed:
        out.fail(f"could not delete {name}", "it is kept; run prune again to retry")
