"""`uploads`: the history of upload attempts (and deletions), newest first."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import errors
from ..columns import ARCHIVE_NAME, Column
from ..models import UPLOAD_STATUSES, iso
from ..units import human_size
from . import completion
from .options import JSON, WIDE, count_option
from .runtime import runtime

MAX_LIMIT = 1_000_000  # more rows than any history holds; SQLite's LIMIT must fit 64 bits


COLUMNS = (
    Column("id", elide=False),
    Column("started", elide=False),
    Column("action", elide=False),
    Column("status", elide=False),
    Column("file", keep=ARCHIVE_NAME),
    Column("size", elide=False),
    Column("target", essential=False),
    Column("error", essential=False),
)


def register(app: typer.Typer) -> None:
    app.command("uploads")(uploads)


def uploads(
    ctx: typer.Context,
    json: bool = JSON,
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
        autocompletion=completion.connections,
        help="Only this connection (or an ad-hoc target such as local:DIR).",
    ),
    status: str | None = typer.Option(
        None,
        "--status",
        "-s",
        metavar="STATUS",
        autocompletion=completion.upload_statuses,
        help="Only this status: " + ", ".join(UPLOAD_STATUSES),
    ),
    show_all: bool = typer.Option(
        False,
        "--all",
        "-a",
        help="Also show `skipped` rows (an archive already stored, or outside retention).",
    ),
    wide: bool = WIDE,
) -> None:
    """List upload attempts and deletions, newest first (`skipped` rows with --all).

    Example: fermentrack-backup uploads --status failed --limit 5
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    context = rt.context
    if status is not None and status not in UPLOAD_STATUSES:
        raise errors.InvalidValue(
            f"unknown status {status!r}", "use one of: " + ", ".join(UPLOAD_STATUSES)
        )
    conn_id = None
    if connection is not None:
        conn_id = context.targets.history_id(connection)
        if conn_id is None:
            context.targets.resolve(connection)  # raises: names no connection
    hidden = () if show_all or status is not None else ("skipped",)
    records = context.db.attempts.list(
        limit=limit, connection_id=conn_id, status=status, hide_statuses=hidden
    )
    if json:
        out.data({"uploads": [r.to_json() for r in records]})
        return
    rows = [
        (
            r.id,
            iso(r.started_at),
            r.action,
            r.status,
            Path(r.local_path or r.remote_path or "").name,
            human_size(r.size),
            r.connection_id or "",  # whole: only --wide and piped output show it
            r.error_code or "",
        )
        for r in records
    ]
    out.table("Uploads", COLUMNS, rows, wide=wide)
