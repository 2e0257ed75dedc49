"""`config path|show|set|unset`."""

from __future__ import annotations

import sys

import typer

from .. import errors
from ..config import KEYS, lookup_key
from .common import JsonOpt, get_app, handle_errors, setup, stdin_is_tty, typer_app

app = typer_app(help="Show and change settings (config.toml).", no_args_is_help=True)


@app.command("path")
@handle_errors
def path() -> None:
    """Print the config file's path.

    Example: fermentrack-backup config path
    """
    setup().line(str(get_app().settings.path))


@app.command("show")
@handle_errors
def show(json: bool = JsonOpt) -> None:
    """Show every setting, its value and where it comes from (secrets as ***).

    Example: fermentrack-backup config show
    """
    out = setup(json=json)
    rows = get_app().settings.show()
    if json:
        out.data(rows)
        return
    out.table(
        str(get_app().settings.path),
        ("key", "value", "source", "env var"),
        [
            (r["key"], "" if r["value"] is None else r["value"], r["source"], r["env"] or "")
            for r in rows
        ],
    )


def _read_secret(name: str) -> str:
    if stdin_is_tty():
        value = typer.prompt(f"{name}", hide_input=True)
    else:
        value = sys.stdin.readline().strip()
    if not value:
        raise errors.InvalidValue(
            f"no value given for {name}",
            f'pipe it in: printf %s "$SECRET" | fermentrack-backup config set {name}',
        )
    return str(value)


@app.command("set")
@handle_errors
def set_(
    key: str = typer.Argument(..., metavar="KEY", help="Setting name, e.g. dropbox.app_key."),
    value: str | None = typer.Argument(
        None, metavar="[VALUE]", help="New value (secrets: read from stdin)."
    ),
) -> None:
    """Set one setting in the config file.

    Example: fermentrack-backup config set remote_folder "/Fermentrack Backups"
    """
    out = setup()
    spec = lookup_key(key)
    if spec.secret:
        if value is not None:
            raise errors.UsageError(
                f"{key} is never taken on the command line (it would show in `ps`)",
                f"run `fermentrack-backup config set {key}` and type it, or pipe it on stdin",
            )
        value = _read_secret(key)
    elif value is None:
        raise errors.UsageError(f"missing VALUE for {key}", f"{key}: {spec.help}")
    settings = get_app().settings
    settings.set(key, value)
    shown = "***" if spec.secret else value
    out.info(f"set {key} = {shown} in {settings.path}")


@app.command("unset")
@handle_errors
def unset(key: str = typer.Argument(..., metavar="KEY", help="Setting name.")) -> None:
    """Remove a setting from the config file (back to its default).

    Example: fermentrack-backup config unset default_connection
    """
    out = setup()
    settings = get_app().settings
    existed = settings.unset(key)
    out.info(f"unset {key}" if existed else f"{key} was not set in {settings.path}")


def key_names() -> list[str]:
    return list(KEYS)
