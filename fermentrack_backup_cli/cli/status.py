"""`status`: is every connection healthy and backing up?"""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import parse_duration
from ..errors import ExitCode, InvalidValue
from ..output import human_age
from ..service import connection_status
from .common import JsonOpt, any_to_json, get_app, handle_errors, setup


def register(app: typer.Typer) -> None:
    app.command("status")(status)


@handle_errors
def status(
    connection: str | None = typer.Argument(None, help="Only this connection."),
    json: bool = JsonOpt,
    max_age: str | None = typer.Option(
        None,
        "--max-age",
        metavar="DURATION",
        help="Unhealthy when the last success is older (26h).",
    ),
) -> None:
    """Show each connection's last successful upload and last failure.

    Example: fermentrack-backup status --max-age 26h
    """
    out = setup(json=json)
    try:
        max_age_s = parse_duration(max_age) if max_age else None
    except ValueError as exc:
        raise InvalidValue(f"invalid --max-age: {exc}", "e.g. --max-age 26h") from None
    statuses = connection_status(get_app(), connection, max_age_s=max_age_s)
    if json:
        out.data(any_to_json(statuses))
    elif not statuses:
        out.info("no connections; link one with `fermentrack-backup link local DIR`")
    else:
        rows = []
        for s in statuses:
            ok = s.last_success
            bad = s.last_failure
            rows.append(
                (
                    s.label,
                    s.provider,
                    "ok" if s.healthy else "UNHEALTHY",
                    s.state,
                    f"{Path(ok.local_path).name} ({human_age(s.last_success_age_s)})"
                    if ok
                    else "never",
                    f"{Path(bad.local_path).name}: {bad.error_code}" if bad else "",
                    "; ".join(s.problems),
                )
            )
        out.table(
            "Status",
            (
                "connection",
                "provider",
                "health",
                "state",
                "last success",
                "last failure",
                "problems",
            ),
            rows,
        )
    if any(not s.healthy for s in statuses):
        raise typer.Exit(ExitCode.UNHEALTHY)
