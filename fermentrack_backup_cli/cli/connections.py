"""`link local`, `connections`, `unlink`: the targets uploads go to."""

from __future__ import annotations

from pathlib import Path

import typer

from ..models import iso
from .common import JsonOpt, any_to_json, get_app, handle_errors, setup

link_app = typer.Typer(
    help="Link a storage target (a local folder or a Dropbox account).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(link_app, name="link")
    app.command("connections")(connections)
    app.command("unlink")(unlink)


@link_app.command("local")
@handle_errors
def link_local(
    path: Path = typer.Argument(..., help="Folder to store backups in (must exist)."),
    label: str | None = typer.Option(None, "--label", help="Name to refer to it by."),
) -> None:
    """Link a local folder (USB stick, NAS mount) as a backup target.

    Example: fermentrack-backup link local /mnt/usb --label usb
    """
    out = setup()
    conn = get_app().link_local(path, label)
    out.line(f"linked {conn.label} ({conn.id}) -> {conn.location}")


@handle_errors
def connections(json: bool = JsonOpt) -> None:
    """List linked connections.

    Example: fermentrack-backup connections --json
    """
    out = setup(json=json)
    conns = get_app().history.connections()
    if json:
        out.data(any_to_json(conns))
        return
    if not conns:
        out.info(
            "no connections; link one with `fermentrack-backup link local DIR` or `link dropbox`"
        )
        return
    rows = [
        (
            c.id[:8],
            c.provider,
            c.label,
            c.account_email or c.location or "",
            c.account_name or "",
            c.state,
            c.token_store or "-",
            iso(c.created_at),
            iso(c.last_used_at) or "never",
        )
        for c in conns
    ]
    out.table(
        "Connections",
        ("id", "provider", "label", "account", "name", "state", "token", "created", "last used"),
        rows,
    )


@handle_errors
def unlink(
    connection: str = typer.Argument(..., help="Connection id, id prefix or label."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove a connection (its upload history stays).

    Example: fermentrack-backup unlink usb
    """
    out = setup()
    app = get_app()
    conn = app.resolve(connection)
    if conn.provider == "dropbox":
        from ..dropbox_wiring import revoke_and_forget

        for warning in revoke_and_forget(app, conn):
            out.warn(warning)
    app.history.remove_connection(conn.id)
    out.line(f"unlinked {conn.label} ({conn.id})")
