"""`remote ls`, `download` and `prune`: what is stored at a target, bring one back,
keep a bounded history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from ..models import iso
from ..output import Output, byte_progress, human_size
from ..prune import PruneReport, prune
from ..remote import NullWatcher, Watcher, list_backups
from ..restore import download
from ..retention import Decision
from .common import (
    JsonOpt,
    config_option,
    exit_with,
    get_app,
    handle_errors,
    setup,
    typer_app,
)

ToOpt = typer.Option(
    None,
    "--to",
    metavar="CONNECTION",
    help="Connection id, prefix or label, or local:DIR (default: the default connection).",
)

remote_app = typer_app(
    name="remote",
    help="Look at the backups stored at a target.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    remote_app.command("ls")(ls)
    app.add_typer(remote_app, name="remote")
    app.command("download")(download_cmd)
    app.command("prune")(prune_cmd)


@contextmanager
def watching(out: Output) -> Iterator[Watcher]:
    """Progress bars on a terminal only; cron and --json get none."""
    with byte_progress(out) as bars:
        yield bars if bars is not None else NullWatcher()


@handle_errors
def ls(to: str | None = ToOpt, json: bool = JsonOpt) -> None:
    """List the backups stored at a target, newest first.

    Example: fermentrack-backup remote ls --to dropbox
    """
    out = setup(json=json)
    where, backups = list_backups(get_app(), to)
    if json:
        out.data([b.to_json() for b in backups])
        return
    if not backups:
        out.info(f"no backups stored in {where}")
        return
    rows = [
        (
            b.file.name,
            human_size(b.file.size),
            iso(b.file.modified),
            (b.file.content_hash or "")[:12],
            "yes" if b.known else "no",
            _verified(b.last_verified_ok, iso(b.last_verified)),
        )
        for b in backups
    ]
    columns = ("name", "size", "modified", "content hash", "known", "last verified")
    out.table(f"Backups in {where}", columns, rows)
    total = sum(b.file.size for b in backups)
    out.info(f"{len(backups)} backup(s), {human_size(total)}")


def _verified(ok: bool | None, when: str | None) -> str:
    if ok is None:
        return "never"
    return f"{'ok' if ok else 'FAILED'} {when}"


@handle_errors
def download_cmd(
    name: str = typer.Argument(
        ..., metavar="NAME", help="A stored backup's name, as `remote ls` shows it."
    ),
    to: str | None = ToOpt,
    output: Path = typer.Option(
        Path(), "--output", "-o", metavar="DIR", help="Folder to save it in."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing local file."),
    json: bool = JsonOpt,
) -> None:
    """Download (restore) a stored backup, checked against its content hash.

    Example: fermentrack-backup download 2026-11-27T03.00.00.tar.xz --to dropbox -o ~/restore
    """
    out = setup(json=json)
    with watching(out) as watcher:
        result = download(get_app(), name, to, output, force=force, watcher=watcher)
    if json:
        out.data(result.to_json())
        return
    resumed = f", resumed at {result.resumed_from} bytes" if result.resumed_from else ""
    out.line(f"downloaded: {result.name} -> {result.path} ({human_size(result.size)}{resumed})")


def _count(flag: str, what: str) -> Any:
    key = "retention." + flag.removeprefix("--").replace("-", "_")
    return typer.Option(
        None,
        flag,
        metavar="N",
        parser=config_option(key, f"{flag} 7"),
        help=f"Keep {what} (-1: unlimited).",
    )


@handle_errors
def prune_cmd(
    to: str | None = ToOpt,
    keep_last: int | None = _count("--keep-last", "the newest N backups"),
    keep_hourly: int | None = _count("--keep-hourly", "the newest backup of each of N hours"),
    keep_daily: int | None = _count("--keep-daily", "the newest backup of each of N days"),
    keep_weekly: int | None = _count("--keep-weekly", "the newest backup of each of N weeks"),
    keep_monthly: int | None = _count("--keep-monthly", "the newest backup of each of N months"),
    keep_yearly: int | None = _count("--keep-yearly", "the newest backup of each of N years"),
    keep_within: str | None = typer.Option(
        None,
        "--keep-within",
        metavar="DURATION",
        parser=config_option("retention.keep_within", "--keep-within 30d"),
        help="Keep every backup newer than now minus this (7d, 2w, 6m, 1y6m; m = months).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show the plan, delete nothing."),
    json: bool = JsonOpt,
) -> None:
    """Delete old backups at a target, restic-style (no flags: the retention.* config).

    Example: fermentrack-backup prune --to dropbox --keep-daily 7 --keep-weekly 4 --dry-run
    """
    out = setup(json=json)
    rules = {
        "keep_last": keep_last,
        "keep_hourly": keep_hourly,
        "keep_daily": keep_daily,
        "keep_weekly": keep_weekly,
        "keep_monthly": keep_monthly,
        "keep_yearly": keep_yearly,
        "keep_within": keep_within,
    }
    report = prune(get_app(), to, rules, dry_run=dry_run)
    if json:
        out.data(report.to_json())
    else:
        show_prune(out, report)
    exit_with(report.exit_code)


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
        out.fail(f"could not delete {name}", label="failed:")
