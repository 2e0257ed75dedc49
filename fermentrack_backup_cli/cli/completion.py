"""Shell completion: the callbacks options name with `autocompletion=`, and
`--show-completion SHELL` / `--install-completion SHELL` for a shell other than the
one running (Typer's own options detect the shell from the parent process).

Typer's standard scripts for bash, zsh and fish call the program back with
`_FERMENTRACK_BACKUP_COMPLETE=complete_<shell>`; the callbacks below then answer from
core.completion, which reads the history database read-only and never loads an SDK.
"""

from __future__ import annotations

from typing import Any

import typer

from ..core import completion
from ..models import UPLOAD_STATUSES

SHELLS = ("bash", "zsh", "fish")
PROG = "fermentrack-backup"
COMPLETE_VAR = "_FERMENTRACK_BACKUP_COMPLETE"


def _config(ctx: typer.Context) -> str | None:
    value = ctx.find_root().params.get("config")
    return value if isinstance(value, str) else None


def connections(incomplete: str) -> list[tuple[str, str]]:
    """Connection labels (with their provider and short id as help)."""
    return completion.connection_choices(incomplete)


def config_keys(incomplete: str) -> list[tuple[str, str]]:
    return completion.config_key_choices(incomplete)


def upload_statuses(incomplete: str) -> list[str]:
    return [s for s in UPLOAD_STATUSES if s.startswith(incomplete)]


def stored_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Backups stored at `--to` (or the default connection), when listing them is cheap."""
    to = ctx.params.get("to")
    return completion.stored_names(_config(ctx), to if isinstance(to, str) else None, incomplete)


def remote_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """`verify --remote NAME...`: stored names; plain `verify PATH`: none, so the shell
    completes file names."""
    return stored_names(ctx, incomplete) if ctx.params.get("remote") else []


_BASH_SPECIAL = frozenset(" \t\n\\'\"`$!&;|<>()*?[]{}~#")


def bash_word(value: str) -> str:
    """`value` as bash must insert it: backslashes before its special characters."""
    return "".join(f"\\{c}" if c in _BASH_SPECIAL else c for c in value)


def escape_for_bash() -> None:
    """Bash inserts a completion verbatim (Typer's script uses no `-o filenames`): the
    label `usb stick` became two arguments. The completions Typer's bash class prints
    (after it matched them against the typed word) are escaped: `usb\\ stick`. zsh and
    fish quote what they insert themselves. Typer registers its classes by name when
    it builds the command (typer is pinned below 0.29 in pyproject.toml)."""
    from typer import _completion_classes as classes

    class EscapingBashComplete(classes.BashComplete):
        def format_completion(self, item: Any) -> str:
            return bash_word(str(item.value))

    classes.BashComplete = EscapingBashComplete  # type: ignore[misc]


def explicit_shell(argv: list[str]) -> bool:
    """`--show-completion SHELL` / `--install-completion SHELL` as the first option: act
    for SHELL (packaging, or a shell that is not the parent). True when done."""
    if len(argv) < 2 or argv[0] not in ("--show-completion", "--install-completion"):
        return False
    if argv[1].startswith("-"):  # another option (--help): Typer's own handling
        return False
    if argv[1] not in SHELLS or len(argv) > 2:
        # Typer's flag would ignore the word and print the parent shell's script, exit 0:
        # `--show-completion tcsh > file` must not quietly write bash into it
        from ..errors import ExitCode
        from ..output import Output

        Output().fail(
            f"{argv[0]} takes one shell name, got {' '.join(argv[1:])!r}",
            f"use one of: {', '.join(SHELLS)} (or none: the shell it runs in)",
        )
        raise SystemExit(ExitCode.USAGE)
    # Typer's own script and installer (what its options call after detecting the shell);
    # typer is pinned below 0.29 in pyproject.toml
    from typer._completion_shared import get_completion_script, install

    if argv[0] == "--show-completion":
        typer.echo(get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=argv[1]))
        return True
    shell, path = install(shell=argv[1], prog_name=PROG, complete_var=COMPLETE_VAR)
    typer.echo(f"{shell} completion installed in {path}")
    typer.echo("Completion will take effect once you restart the terminal")
    return True
