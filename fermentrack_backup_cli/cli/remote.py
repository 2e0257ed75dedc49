"""`remote ls`: the backups stored at a target, newest first."""

from __future__ import annotations

import typer

from ..columns import ARCHIVE_NAME, Column
from ..core.stored import list_backups
from ..models import iso
from ..units import human_size
from .options import JSON, TO, WIDE, max_duration_option, typer_app
from .runtime import runtime

LS_COLUMNS = (
    Column("name", keep=ARCHIVE_NAME),
    Column("size", elide=False),
    Column("modified", elide=False),
    Column("content hash", essential=False),
    Column("known", essential=False),
    Column("last verified"),
)


def register(app: typer.Typer) -> None:
    group = typer_app(
        name="remote", help="Look at the backups stored at a target.", no_args_is_help=True
    )
    group.command("ls")(ls)
    app.add_typer(group, name="remote")


def ls(
    ctx: typer.Context,
    to: str | None = TO,
    json: bool = JSON,
    max_duration: str | None = max_duration_option(),
    wide: bool = WIDE,
) -> None:
    """List the backups stored at a target, newest first.

    Example: fermentrack-backup remote ls --to dropbox
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    rt.context.settings.override("upload.max_duration", max_duration)
    where, backups = list_backups(rt.context.targets, to)
    if json:
        out.data({"target": where, "backups": [b.to_json() for b in backups]})
        return
    if not backups:
        out.info(f"no backups stored in {where}")
        return
    rows = [
        (
            f"{b.file.name} ({b.note})" if b.note else b.file.name,
            human_size(b.file.size),
            iso(b.file.modified),
            (b.file.content_hash or "")[:12],
            "yes" if b.known else "no",
            _verified(b.last_verified_ok, iso(b.last_verified)),
        )
        for b in backups
    ]
    out.table(f"Backups in {where}", LS_COLUMNS, rows, wide=wide)
    total = sum(b.file.size for b in backups)
    out.info(f"{len(backups)} backup(s), {human_size(total)}")


def _verified(ok: bool | None, when: str | None) -> str:
    if ok is None:
        return "never"
    return f"{'ok' if ok else 'FAILED'} {when}"
