"""`prune`: delete old backups at a target, restic-style."""

from __future__ import annotations

from typing import Any

import typer

from ..core.prune import prune as run_prune
from .options import JSON, TO, config_option, max_duration_option
from .render import exit_with, show_prune
from .runtime import runtime


def register(app: typer.Typer) -> None:
    app.command("prune")(prune)


def _count(flag: str, what: str) -> Any:
    key = "retention." + flag.removeprefix("--").replace("-", "_")
    return typer.Option(
        None,
        flag,
        metavar="N",
        parser=config_option(key, f"{flag} 7"),
        help=f"Keep {what} (-1: unlimited).",
    )


def prune(
    ctx: typer.Context,
    to: str | None = TO,
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
    json: bool = JSON,
    max_duration: str | None = max_duration_option(),
) -> None:
    """Delete old backups at a target, restic-style (no flags: the retention.* config).

    Example: fermentrack-backup prune --to dropbox --keep-daily 7 --keep-weekly 4 --dry-run
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    rt.context.settings.override("upload.max_duration", max_duration)
    rules = {
        "keep_last": keep_last,
        "keep_hourly": keep_hourly,
        "keep_daily": keep_daily,
        "keep_weekly": keep_weekly,
        "keep_monthly": keep_monthly,
        "keep_yearly": keep_yearly,
        "keep_within": keep_within,
    }
    report = run_prune(rt.context.targets, to, rules, dry_run=dry_run)
    if json:
        out.data(report.to_json())
    else:
        show_prune(out, report)
    exit_with(report.exit_code)
