"""`upload` and `uploads`: store archives at a target, and the history of attempts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .. import errors
from ..config import validate
from ..models import UPLOAD_STATUSES, UploadResult, iso
from ..notify import pinging
from ..output import Output, UploadReporter, human_size
from ..pipeline import UploadOptions
from ..pipeline import upload as run_upload
from ..retention import Policy
from .common import (
    JsonOpt,
    any_to_json,
    config_option,
    count_option,
    get_app,
    handle_errors,
    seconds_option,
    setup,
)

MAX_LIMIT = 1_000_000  # more rows than any history holds; SQLite's LIMIT must fit 64 bits

ToOpt = typer.Option(
    None,
    "--to",
    metavar="CONNECTION",
    help="Connection id, prefix or label, or local:DIR for an ad-hoc folder.",
)


def register(app: typer.Typer) -> None:
    app.command("upload")(upload)
    app.command("uploads")(uploads)


def _apply_overrides(
    parallel: int | None, chunk_size: int | None, max_duration: str | None
) -> None:
    """Command-line values win over config and env, validated like `config set`."""
    settings = get_app().settings
    for key, value in (
        ("upload.parallel", parallel),
        ("upload.chunk_size_mib", chunk_size),
        ("upload.max_duration", max_duration),
    ):
        if value is not None:
            settings.overrides[key] = validate(key, value)


def _notify_url(option: str | None) -> str | None:
    settings = get_app().settings
    if option is not None:
        settings.overrides["notify.url"] = validate("notify.url", option)
    value = settings.get("notify.url")
    return str(value) if value else None


def _prune_policy(prune: bool) -> Policy | None:
    """The policy `--prune` applies, so the run does not upload what it would delete.

    A broken policy plans nothing here: the archives are uploaded and `_prune` reports it."""
    from ..prune import config_policy

    if not prune:
        return None
    try:
        return config_policy(get_app())
    except errors.BackupError:
        return None


def _prune(to: str | None, out: Output, json: bool, quiet: bool) -> dict[str, Any]:
    """`upload --prune`: apply the configured retention after a fully successful run."""
    from ..prune import prune_after_upload
    from .remote import show_prune

    app = get_app()
    target, target_id = app.target_for(to)
    report = prune_after_upload(app, target, target_id)
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


def _exit_for(results: list[UploadResult], out: Output, quiet: bool, json: bool) -> None:
    failed = [r for r in results if r.status == "failed"]
    if failed:
        if not quiet and not json:
            out.fail(f"{len(failed)} of {len(results)} archive(s) failed", None, label="")
        codes = {r.exit_code for r in failed}
        raise typer.Exit(codes.pop() if len(codes) == 1 else errors.ExitCode.FAILURE)


@handle_errors
def upload(
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH...", help="Archives, or folders of archives."
    ),
    to: str | None = ToOpt,
    json: bool = JsonOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors."),
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
        help="Chunks of one file sent at once (1-16).",
    ),
    chunk_size: int | None = typer.Option(
        None,
        "--chunk-size",
        metavar="MIB",
        parser=config_option("upload.chunk_size_mib", "--chunk-size 8"),
        help="Upload chunk size (multiple of 4, 4-148).",
    ),
    max_duration: str | None = typer.Option(
        None,
        "--max-duration",
        metavar="DURATION",
        parser=config_option("upload.max_duration", "--max-duration 90m"),
        help="Give up the run after this (90m, 6h).",
    ),
    notify_url: str | None = typer.Option(
        None, "--notify-url", metavar="URL", help="Ping URL/start, URL or URL/fail."
    ),
    prune: bool = typer.Option(
        False, "--prune", help="After a fully successful run, apply the retention policy."
    ),
    mkdir: bool = typer.Option(
        False, "--mkdir", help="Create the --to local:DIR folder (and parents) if missing."
    ),
) -> None:
    """Upload backup archives (a folder: every archive not stored yet).

    Example: fermentrack-backup upload /home/fermentrack/backups --to dropbox --quiet
    """
    out = setup(json=json, quiet=quiet)
    _apply_overrides(parallel, chunk_size, max_duration)
    if strict and no_check:
        raise errors.UsageError(
            "--strict needs the archive check that --no-check skips", "use one of them"
        )
    options = UploadOptions(
        overwrite=overwrite,
        check=not no_check,
        lock_timeout=lock_timeout,
        mkdir=mkdir,
        prune_policy=_prune_policy(prune),
        strict=strict,
    )
    reporter = UploadReporter(out)
    pruned: dict[str, Any] | None = None
    with pinging(_notify_url(notify_url)) as (notifier, outcome):
        with reporter.running():
            results = run_upload(get_app(), paths, to, options, reporter)
        ok = all(r.status != "failed" for r in results)
        if prune and ok:  # never prune after a failed run
            pruned = _prune(to, out, json, quiet)
        outcome.ok = ok
    for problem in notifier.problems if notifier and not quiet else []:
        out.warn(problem)
    if json:
        uploaded = any_to_json(results)
        out.data(uploaded if pruned is None else {"uploads": uploaded, "prune": pruned})
    _exit_for(results, out, quiet, json)


@handle_errors
def uploads(
    json: bool = JsonOpt,
    limit: int = typer.Option(
        20,
        "--limit",
        "-n",
        metavar="N",
        parser=count_option(1, MAX_LIMIT, "--limit 20"),
        help=f"Show at most N rows (1-{MAX_LIMIT}).",
    ),
    connection: str | None = typer.Option(
        None,
        "--connection",
        "-c",
        metavar="CONNECTION",
        help="Only this connection (or local:DIR).",
    ),
    status: str | None = typer.Option(
        None, "--status", "-s", help="Only this status: " + ", ".join(UPLOAD_STATUSES)
    ),
) -> None:
    """List upload attempts, newest first.

    Example: fermentrack-backup uploads --status failed --limit 5
    """
    out = setup(json=json)
    app = get_app()
    if status is not None and status not in UPLOAD_STATUSES:
        raise errors.InvalidValue(
            f"unknown status {status!r}", "use one of: " + ", ".join(UPLOAD_STATUSES)
        )
    conn_id = None
    if connection is not None:
        conn_id = connection if connection.startswith("local:") else app.resolve(connection).id
        if connection.startswith("local:"):
            conn_id = "local:" + str(Path(connection[6:] or ".").expanduser().absolute())
    records = app.history.uploads(limit=limit, connection_id=conn_id, status=status)
    if json:
        out.data(any_to_json(records))
        return
    rows = [
        (
            r.id,
            iso(r.started_at),
            r.action,
            r.status,
            Path(r.local_path or r.remote_path or "").name,
            human_size(r.size),
            (r.connection_id or "")[:8]
            if not (r.connection_id or "").startswith("local:")
            else r.connection_id,
            r.error_code or "",
        )
        for r in records
    ]
    columns = ("id", "started", "action", "status", "file", "size", "target", "error")
    out.table("Uploads", columns, rows)
