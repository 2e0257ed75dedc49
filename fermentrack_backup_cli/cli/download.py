"""`download`: restore a stored backup, checked against its content hash."""

from __future__ import annotations

from pathlib import Path

import typer

from ..core.download import download as run_download
from ..units import human_size
from . import completion
from .options import JSON, TO, bwlimit_option, max_duration_option
from .render import watching
from .runtime import runtime


def register(app: typer.Typer) -> None:
    app.command("download")(download)


def download(
    ctx: typer.Context,
    name: str = typer.Argument(
        ...,
        metavar="NAME",
        autocompletion=completion.stored_names,
        help="A stored backup's name, as `remote ls` shows it.",
    ),
    to: str | None = TO,
    output: Path = typer.Option(
        Path(), "--output", "-o", metavar="DIR", help="Folder to save it in."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing local file."),
    json: bool = JSON,
    max_duration: str | None = max_duration_option(),
    bwlimit: str | None = bwlimit_option(),
) -> None:
    """Download (restore) a stored backup, checked against its content hash.

    Example: fermentrack-backup download 2026-11-27T03.00.00.tar.xz --to dropbox -o ~/restore
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    rt.context.settings.override("upload.max_duration", max_duration)
    rt.context.settings.override("upload.bwlimit", bwlimit)
    with watching(out) as watcher:
        result = run_download(rt.context.targets, name, to, output, force=force, watcher=watcher)
    if json:
        out.data(result.to_json())
        return
    resumed = f", resumed at {human_size(result.resumed_from)}" if result.resumed_from else ""
    out.line(f"downloaded: {result.name} -> {result.path} ({human_size(result.size)}{resumed})")
