"""`config path|show|set|unset`."""

from __future__ import annotations

import sys

import typer

from .. import errors
from ..paths import config_file_path
from . import completion
from .options import JSON, stdin_is_tty, typer_app
from .runtime import runtime


def register(app: typer.Typer) -> None:
    group = typer_app(help="Show and change settings (config.toml).", no_args_is_help=True)
    group.command("path")(path)
    group.command("show")(show)
    # ignore_unknown_options: a negative VALUE (`config set upload.memory_mib -1`) is a
    # value to refuse with its range, not "No such option: -1"
    group.command("set", context_settings={"ignore_unknown_options": True})(set_)
    group.command("unset")(unset)
    app.add_typer(group, name="config")


def path(ctx: typer.Context) -> None:
    """Print the config file's path (also when the file is broken, so it can be fixed).

    Example: fermentrack-backup config path
    """
    rt = runtime(ctx)
    rt.output().line(str(config_file_path(rt.config)))


def show(ctx: typer.Context, json: bool = JSON) -> None:
    """Show every setting, its value and where it comes from (secrets as ***).

    Example: fermentrack-backup config show
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    settings = rt.context.settings
    rows = settings.show()
    if json:
        out.data({"path": str(settings.path), "settings": rows})
        return
    out.table(
        str(settings.path),
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


def set_(
    ctx: typer.Context,
    key: str = typer.Argument(
        ...,
        metavar="KEY",
        autocompletion=completion.config_keys,
        help="Setting name, e.g. remote_folder.",
    ),
    value: str | None = typer.Argument(
        None, metavar="[VALUE]", help="New value (secrets: read from stdin)."
    ),
) -> None:
    """Set one setting in the config file.

    Example: fermentrack-backup config set remote_folder "/Fermentrack Backups"
    """
    rt = runtime(ctx)
    out = rt.output()
    settings = rt.context.settings
    spec = settings.keys.lookup(key)
    if spec.secret:
        if value is not None:
            raise errors.UsageError(
                f"{key} is never taken on the command line (it would show in `ps`)",
                f"run `fermentrack-backup config set {key}` and type it, or pipe it on stdin",
            )
        value = _read_secret(key)
    elif value is None:
        raise errors.UsageError(f"missing VALUE for {key}", f"{key}: {spec.help}")
    settings.set(key, value)
    shown = "***" if spec.secret else value
    out.info(f"set {key} = {shown} in {settings.path}")


def unset(
    ctx: typer.Context,
    key: str = typer.Argument(
        ..., metavar="KEY", autocompletion=completion.config_keys, help="Setting name."
    ),
) -> None:
    """Remove a setting from the config file (back to its default).

    Example: fermentrack-backup config unset default_connection
    """
    rt = runtime(ctx)
    out = rt.output()
    settings = rt.context.settings
    existed = settings.unset(key)
    out.info(f"unset {key}" if existed else f"{key} was not set in {settings.path}")
