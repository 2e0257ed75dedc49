"""`connections` and `unlink`: the linked targets uploads go to."""

from __future__ import annotations

import typer

from .. import errors
from ..columns import Column
from ..core.connections import list_connections
from ..core.connections import unlink as unlink_connection
from ..models import Connection, iso
from . import completion
from .options import JSON, WIDE, stdin_is_tty
from .runtime import runtime

CONNECTION_COLUMNS = (
    Column("id", elide=False, prefix=8),
    Column("provider", elide=False),
    Column("label"),
    Column("account"),
    Column("name", essential=False),
    Column("state", elide=False),
    Column("token store", essential=False),
    Column("created", essential=False),
    Column("last used", essential=False),
)


def register(app: typer.Typer) -> None:
    app.command("connections")(connections)
    app.command("unlink")(unlink)


def connections(ctx: typer.Context, json: bool = JSON, wide: bool = WIDE) -> None:
    """List linked connections.

    Example: fermentrack-backup connections --json
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    rows = list_connections(rt.context.targets)
    if json:
        out.data({"connections": [row.to_json() for row in rows]})
        return
    if not rows:
        out.info("no connections; link one with `fermentrack-backup link PROVIDER`")
        return
    table = [
        (
            c.id,
            c.provider,
            c.label,
            c.account_email or c.location or "",
            c.account_name or "",
            c.state,
            (row.token_location or "-") + ("; link again" if row.store_changed else ""),
            iso(c.created_at),
            iso(c.last_used_at) or "never",
        )
        for row in rows
        for c in (row.connection,)
    ]
    out.table("Connections", CONNECTION_COLUMNS, table, wide=wide)
    for row in rows:
        if row.store_changed:
            out.warn(f"connection {row.connection.label}: {row.store_changed[0]}")
            out.info(f"hint: {row.store_changed[1]}")
        if why := row.label_hides:
            out.warn(
                f"connection {row.connection.label}: its label cannot be used with --to: {why}"
            )
            out.info(f"hint: name it by its id prefix (--to {row.connection.id[:8]})")


def unlink(
    ctx: typer.Context,
    connection: str = typer.Argument(
        ...,
        metavar="CONNECTION",
        autocompletion=completion.connections,
        help="Connection id, id prefix or label.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove a connection (its upload history stays).

    Example: fermentrack-backup unlink usb
    """
    rt = runtime(ctx)
    out = rt.output()
    targets = rt.context.targets
    conn = targets.resolve(connection)
    _confirm_unlink(conn, yes)
    for warning in unlink_connection(targets, conn):
        out.warn(warning)
    out.line(f"unlinked {conn.label} ({conn.id})")


def _confirm_unlink(conn: Connection, yes: bool) -> None:
    if yes:
        return
    what = f"{conn.label} ({conn.id[:8]}, {conn.provider})"
    if not stdin_is_tty():  # cron, pipes: never wait for an answer nobody gives
        raise errors.UsageError(
            f"refusing to unlink {what} without confirmation",
            f"pass --yes: fermentrack-backup unlink {conn.id[:8]} --yes",
        )
    try:
        confirmed = typer.confirm(f"Unlink {what}? Its upload history is kept.", default=False)
    except typer.Abort:  # Ctrl-C, Ctrl-D: the boundary says cancelled, on a line of its own
        typer.echo()  # (click ends the line itself only after a hidden prompt)
        raise
    if not confirmed:
        raise errors.Cancelled(
            "cancelled: nothing was unlinked", "run `fermentrack-backup unlink` again to unlink it"
        )
