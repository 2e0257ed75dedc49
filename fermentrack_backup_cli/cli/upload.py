"""`upload` and `uploads`: store archives at a target, and the history of attempts."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import errors
from ..models import UPLOAD_STATUSES, iso
from ..output import UploadReporter, human_size
from ..pipeline import UploadOptions
from ..pipeline import upload as run_upload
from .common import JsonOpt, any_to_json, get_app, handle_errors, setup

ToOpt = typer.Option(
    None,
    "--to",
    metavar="CONNECTION",
    help="Connection id, prefix or label, or local:DIR for an ad-hoc folder.",
)


def register(app: typer.Typer) -> None:
    app.command("upload")(upload)
    app.command("uploads")(uploads)


@handle_errors
def upload(
    paths: list[Path] = typer.Argument(..., help="Archives, or folders of archives."),
    to: str | None = ToOpt,
    json: bool = JsonOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a different stored copy."),
    no_check: bool = typer.Option(False, "--no-check", help="Upload even a damaged archive."),
    lock_timeout: float = typer.Option(
        60.0,
        "--lock-timeout",
        metavar="SECONDS",
        help="How long to wait for another run to finish.",
    ),
) -> None:
    """Upload backup archives (a folder: every archive not stored yet).

    Example: fermentrack-backup upload examples/2026-11-27T03.00.00.tar.xz --to local:./offsite
    """
    out = setup(json=json, quiet=quiet)
    options = UploadOptions(overwrite=overwrite, check=not no_check, lock_timeout=lock_timeout)
    reporter = UploadReporter(out)
    with reporter.running():
        results = run_upload(get_app(), paths, to, options, reporter)
    if json:
        out.data(any_to_json(results))
    failed = [r for r in results if r.status == "failed"]
    if failed:
        if not quiet and not json:
            out.err.print(f"{len(failed)} of {len(results)} archive(s) failed")
        codes = {r.exit_code for r in failed}
        raise typer.Exit(codes.pop() if len(codes) == 1 else errors.ExitCode.FAILURE)


@handle_errors
def uploads(
    json: bool = JsonOpt,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show at most N rows."),
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
            conn_id = "local:" + str(Path(connection[6:] or ".").absolute())
    records = app.history.uploads(limit=limit, connection_id=conn_id, status=status)
    if json:
        out.data(any_to_json(records))
        return
    rows = [
        (
            r.id,
            iso(r.started_at),
            r.status,
            Path(r.local_path).name,
            human_size(r.size),
            (r.connection_id or "")[:8]
            if not (r.connection_id or "").startswith("local:")
            else r.connection_id,
            r.error_code or "",
        )
        for r in records
    ]
    out.table("Uploads", ("id", "started", "status", "file", "size", "target", "error"), rows)
