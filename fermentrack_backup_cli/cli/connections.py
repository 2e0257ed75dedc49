"""`link local`, `connections`, `unlink`: the targets uploads go to."""

from __future__ import annotations

from pathlib import Path

import typer

from .. import errors
from ..app import App
from ..models import Connection, iso
from .common import (
    JsonOpt,
    get_app,
    handle_errors,
    label_option,
    setup,
    stdin_is_tty,
    typer_app,
)

link_app = typer_app(
    help="Link a storage target (a local folder or a Dropbox account).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(link_app, name="link")
    app.command("connections")(connections)
    app.command("unlink")(unlink)


@link_app.command("local")
@handle_errors
def link_local(
    path: Path = typer.Argument(
        ..., metavar="PATH", help="Folder to store backups in (must exist)."
    ),
    label: str | None = typer.Option(
        None,
        "--label",
        metavar="NAME",
        parser=label_option,
        help="Name to refer to it by (at most 64 chars).",
    ),
) -> None:
    """Link a local folder (USB stick, NAS mount) as a backup target.

    The filesystem it is on is recorded: later runs refuse it when the drive is not
    mounted. Linking a linked folder again records its filesystem anew.

    Example: fermentrack-backup link local /mnt/usb --label usb
    """
    out = setup()
    conn, again = get_app().link_local(path, label)
    if again:
        out.line(f"{conn.label} ({conn.id}) -> {conn.location}: recorded its filesystem again")
    else:
        out.line(f"linked {conn.label} ({conn.id}) -> {conn.location}")


@handle_errors
def connections(json: bool = JsonOpt) -> None:
    """List linked connections.

    Example: fermentrack-backup connections --json
    """
    from ..health import store_changed

    out = setup(json=json)
    app = get_app()
    conns = app.history.connections()
    where = _token_locations(app, conns)
    changed = {c.id: store_changed(app, c) for c in conns}
    if json:
        out.data(
            [
                {
                    **c.to_json(),
                    "token_location": where.get(c.token_store),
                    "token_store_changed": changed[c.id] is not None,
                }
                for c in conns
            ]
        )
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
            (where.get(c.token_store) or "-") + ("; link again" if changed[c.id] else ""),
            iso(c.created_at),
            iso(c.last_used_at) or "never",
        )
        for c in conns
    ]
    out.table(
        "Connections",
        (
            "id",
            "provider",
            "label",
            "account",
            "name",
            "state",
            "token store",
            "created",
            "last used",
        ),
        rows,
    )
    for c in conns:
        problem = changed[c.id]
        if problem:
            out.warn(f"connection {c.label}: {problem[0]}")
            out.info(f"hint: {problem[1]}")


@handle_errors
def unlink(
    connection: str = typer.Argument(
        ..., metavar="CONNECTION", help="Connection id, id prefix or label."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove a connection (its upload history stays).

    Example: fermentrack-backup unlink usb
    """
    out = setup()
    app = get_app()
    conn = app.resolve(connection)
    _confirm_unlink(conn, yes)
    if conn.provider == "dropbox":
        from ..dropbox_wiring import revoke_and_forget

        for warning in revoke_and_forget(app, conn):
            out.warn(warning)
    app.history.remove_connection(conn.id)
    out.line(f"unlinked {conn.label} ({conn.id})")


def _token_locations(app: App, conns: list[Connection]) -> dict[str | None, str]:
    """Where each token store in use keeps its tokens (keyring backend, file path)."""
    from ..auth.tokens import open_store

    kinds = {c.token_store for c in conns if c.token_store}
    return {kind: open_store(kind, app.dirs.token_file).describe() for kind in sorted(kinds)}


def _confirm_unlink(conn: Connection, yes: bool) -> None:
    if yes:
        return
    what = f"{conn.label} ({conn.id[:8]}, {conn.provider})"
    if not stdin_is_tty():  # cron, pipes: never wait for an answer nobody gives
        raise errors.UsageError(
            f"refusing to unlink {what} without confirmation",
            f"pass --yes: fermentrack-backup unlink {conn.id[:8]} --yes",
        )
    if not typer.confirm(f"Unlink {what}? Its upload history is kept.", default=False):
        raise errors.Cancelled("nothing was unlinked", None)
