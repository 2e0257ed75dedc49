"""`verify`: prove archives are readable, and that stored copies match."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ExitCode
from ..output import human_size
from ..service import verify_paths
from .common import JsonOpt, any_to_json, get_app, handle_errors, setup


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


@handle_errors
def verify(
    paths: list[Path] = typer.Argument(..., help="Archives, or folders of archives."),
    to: str | None = typer.Option(
        None, "--to", metavar="CONNECTION", help="Also check the stored copy at this target."
    ),
    json: bool = JsonOpt,
) -> None:
    """Read every member of each archive and find the Fermentrack data dump.

    Example: fermentrack-backup verify /home/pi/fermentrack2/backups --to usb
    """
    out = setup(json=json)
    reports = verify_paths(get_app(), paths, to)
    if json:
        out.data(any_to_json(reports))
    else:
        for r in reports:
            name = Path(r.path).name
            if r.ok:
                out.line(
                    f"ok: {name} ({r.format}, {r.members} members, file_version "
                    f"{r.file_version}, {human_size(r.size)})"
                )
            else:
                out.line(f"FAILED: {name}: {'; '.join(r.problems)}")
    if any(not r.ok for r in reports):
        raise typer.Exit(ExitCode.VERIFY)
