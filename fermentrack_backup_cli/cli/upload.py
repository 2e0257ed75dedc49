"""`upload`: store archives at a target (a folder: every archive not stored yet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .. import errors
from ..config import Settings
from ..core.prune import config_policy, prune_after_upload
from ..core.targets import Opened, Targets
from ..core.upload import UploadOptions
from ..core.upload import upload as run_upload
from ..models import UploadResult
from ..notify import pinging
from ..output import Output, UploadReporter
from ..retention import Policy
from .options import (
    JSON,
    QUIET,
    TO,
    bwlimit_option,
    config_option,
    max_duration_option,
    seconds_option,
)
from .render import show_prune
from .runtime import runtime


def register(app: typer.Typer) -> None:
    app.command("upload")(upload)


def _prune_policy(settings: Settings, prune: bool) -> Policy | None:
    """The policy `--prune` applies, so the run does not upload what it would delete.

    A broken policy plans nothing here: the archives are uploaded and `_prune` reports it."""
    if not prune:
        return None
    try:
        return config_policy(settings)
    except errors.BackupError:
        return None


def _prune(
    targets: Targets, opened: Opened, out: Output, json: bool, quiet: bool
) -> dict[str, Any]:
    """`upload --prune`: apply the configured retention after a fully successful run."""
    report = prune_after_upload(targets, opened)
    if report is None:
        raise errors.UsageError(
            "--prune: no retention policy is configured (the uploads succeeded)",
            "set one, e.g. `fermentrack-backup config set retention.keep_daily 7`",
        )
    if not json and not quiet:
        show_prune(out, report)
    if report.failed:
        raise errors.BackupError(
            f"--prune: {len(report.failed)} old backup(s) could not be deleted",
            "see `fermentrack-backup uploads` and run prune again",
            code="delete_failed",
        )
    return report.to_json()


def _exit_code(results: list[UploadResult]) -> int:
    codes = {r.exit_code for r in results if r.status == "failed"}
    if not codes:
        return 0
    return codes.pop() if len(codes) == 1 else errors.ExitCode.FAILURE


def _summary(results: list[UploadResult], code: int) -> str:
    """The last line of a notification: what the run did, and its exit status."""
    counts = [f"{sum(r.status == s for r in results)} {s}" for s in ("completed", "skipped")]
    failed = sum(r.status == "failed" for r in results)
    return f"upload: {', '.join(counts)}, {failed} failed; exit {code}"


def _exit_for(results: list[UploadResult], out: Output, quiet: bool, json: bool) -> None:
    failed = [r for r in results if r.status == "failed"]
    if failed:
        if not quiet and not json:
            out.fail(
                f"{len(failed)} of {len(results)} archive(s) failed",
                "fix the errors above and run again: archives stored already are skipped",
            )
        raise typer.Exit(_exit_code(results))


def upload(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH...", help="Archives, or folders of archives."
    ),
    to: str | None = TO,
    json: bool = JSON,
    quiet: bool = QUIET,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different stored copy."),
    no_check: bool = typer.Option(False, "--no-check", help="Upload even a damaged archive."),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse archives of an unrecognised layout (exit 5)."
    ),
    lock_timeout: float = typer.Option(
        60.0,
        "--lock-timeout",
        metavar="SECONDS",
        parser=seconds_option(0, 86400, "--lock-timeout 60"),
        help="How long to wait for another run to finish (at most 86400).",
    ),
    parallel: int | None = typer.Option(
        None,
        "--parallel",
        metavar="N",
        parser=config_option("upload.parallel", "--parallel 2"),
        help="Chunks of one file sent at once (1-16, or auto: the default).",
    ),
    chunk_size: int | None = typer.Option(
        None,
        "--chunk-size",
        metavar="MIB",
        parser=config_option("upload.chunk_size_mib", "--chunk-size 8"),
        help="Chunk size in MiB (4-148, rounded down to a multiple of 4; auto: the default).",
    ),
    max_duration: str | None = max_duration_option(),
    bwlimit: str | None = bwlimit_option(),
    notify_url: str | None = typer.Option(
        None,
        "--notify-url",
        metavar="URL",
        help="Notify URL: Healthchecks pings (URL/start, URL, URL/<exit status>) or an ntfy topic.",
    ),
    notify_style: str | None = typer.Option(
        None,
        "--notify-style",
        metavar="STYLE",
        parser=config_option("notify.style", "--notify-style ntfy"),
        help="healthchecks (default) or ntfy.",
    ),
    prune: bool = typer.Option(
        False, "--prune", help="After a fully successful run, apply the retention policy."
    ),
    mkdir: bool = typer.Option(
        False, "--mkdir", help="Create an ad-hoc target folder (and parents) if missing."
    ),
) -> None:
    """Upload backup archives (a folder: every archive not stored yet).

    Example: fermentrack-backup upload /home/fermentrack/backups --to dropbox --quiet
    """
    rt = runtime(ctx)
    out = rt.output(json=json, quiet=quiet)
    context = rt.context
    settings = context.settings
    # command-line values win over config and env, validated like `config set`
    settings.override("upload.parallel", parallel)
    settings.override("upload.chunk_size_mib", chunk_size)
    settings.override("upload.max_duration", max_duration)
    settings.override("upload.bwlimit", bwlimit)
    settings.override("notify.url", notify_url)
    settings.override("notify.style", notify_style)
    if strict and no_check:
        raise errors.UsageError(
            "--strict needs the archive check that --no-check skips", "use one of them"
        )
    options = UploadOptions(
        overwrite=overwrite,
        check=not no_check,
        lock_timeout=lock_timeout,
        mkdir=mkdir,
        prune_policy=_prune_policy(settings, prune),
        strict=strict,
    )
    reporter = UploadReporter(out)
    pruned: dict[str, Any] | None = None
    targets = context.targets
    url = settings.get("notify.url")
    style = str(settings.get("notify.style"))
    with pinging(str(url) if url else None, style, out.transcript, "upload") as notified:
        with reporter.running():
            results = run_upload(targets, context.db, paths, to, options, reporter)
        ok = all(r.status != "failed" for r in results)
        if prune and ok:  # never prune after a failed run
            pruned = _prune(targets, targets.open(to), out, json, quiet)
        notified.finished(_exit_code(results), _summary(results, _exit_code(results)))
    for problem in notified.problems if not quiet else []:
        out.warn(problem)
    if json:
        out.data({"uploads": [r.to_json() for r in results], "prune": pruned})
    _exit_for(results, out, quiet, json)
