"""The Typer application: global options, the command modules, and `main()`.

A thin client: every command parses its options, calls one core use case and renders
the result. Each command module registers itself the same way (`register(app)`);
errors are rendered in one place, `boundary.BoundaryGroup`, which every command runs
inside; the per-run state is Typer's context object (`runtime.Runtime`).
"""

from __future__ import annotations

import os
import sys

import typer

from .. import __version__
from . import (
    completion,
    config_cmd,
    connections,
    doctor,
    download,
    history,
    link,
    providers,
    prune,
    remote,
    status,
    upload,
    verify,
)
from .boundary import BoundaryGroup, close_streams, exit_codes_epilog, reopen_missing_std_fds
from .helpfmt import help_width
from .options import typer_app
from .runtime import Runtime

app = typer_app(
    name="fermentrack-backup",
    help="Back up Fermentrack 2 archives to Dropbox or a local folder, safely from cron.",
    cls=BoundaryGroup,
    epilog=exit_codes_epilog(),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish)
    # the root context's width is every command's (Click's own floor is 50 columns)
    context_settings={"help_option_names": ["-h", "--help"], "terminal_width": help_width()},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fermentrack-backup {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    ctx: typer.Context,
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
    ctx.obj = Runtime(config=config, debug=debug)


for module in (
    providers,
    link,
    connections,
    upload,
    history,
    verify,
    remote,
    download,
    prune,
    status,
    doctor,
    config_cmd,
):
    module.register(app)


def main() -> None:
    reopen_missing_std_fds()
    if os.environ.get(completion.COMPLETE_VAR) == "complete_bash":
        completion.escape_for_bash()
    try:
        if not completion.explicit_shell(sys.argv[1:]):
            app()
    finally:
        close_streams()
