"""The Typer application: global options and the command groups."""

from __future__ import annotations

import typer

from .. import __version__
from . import (
    config_cmd,
    connections,
    doctor,
    link_dropbox,
    providers,
    remote,
    status,
    upload,
    verify_cmd,
)
from .common import close_streams, reopen_missing_std_fds, state, typer_app

app = typer_app(
    name="fermentrack-backup",
    help="Back up Fermentrack 2 archives to Dropbox or a local folder, safely from cron.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fermentrack-backup {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    config: str | None = typer.Option(
        None,
        "--config",
        metavar="FILE",
        envvar="FERMENTRACK_BACKUP_CONFIG",
        help="Config file to use instead of the default.",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of unexpected errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Back up Fermentrack 2 archives to Dropbox or a local folder."""
    state.config = config
    state.debug = debug


for module in (providers, connections, upload, verify_cmd, status, doctor, remote):
    module.register(app)
link_dropbox.register(connections.link_app)
app.add_typer(config_cmd.app, name="config")


def main() -> None:
    reopen_missing_std_fds()
    try:
        app()
    finally:
        close_streams()
