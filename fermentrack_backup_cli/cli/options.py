"""Shared option definitions, and the one reading of option values.

Numbers and labels are read exactly as config.toml's values are (config.values), so
`nan`, `inf`, `2.7` or a label with an escape sequence fail the same way everywhere:
an `error:` and a `hint:` line, exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import IO, Any, TypeVar

import typer

from .. import errors, providers
from ..config import finite_number, whole_number
from ..output import Output
from ..text import LABEL_HINT, check_label
from . import completion
from .helpfmt import HelpCommand

R = TypeVar("R")


class _Typer(typer.Typer):
    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", HelpCommand)
        return super().command(*args, **kwargs)


def typer_app(**settings: Any) -> typer.Typer:
    """A Typer app with plain (Click) help: Rich's help renderer imports Rich and a
    Markdown parser (~0.4 s here, seconds on a Pi) just to print --help. Its commands
    end their help with an unwrapped Examples section (helpfmt.HelpCommand)."""
    return _Typer(rich_markup_mode=None, **settings)


def _adhoc_forms() -> str:
    forms = [f"{spec.ref_prefix}DIR" for spec in providers.specs() if spec.ref_prefix]
    return f", or {' / '.join(forms)} for an ad-hoc target" if forms else ""


class OptionValueError(typer.BadParameter):
    """A bad option value, shown like every other error: an `error:` and a `hint:` line
    (exit 2), not Click's usage block."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint

    def show(self, file: IO[Any] | None = None) -> None:
        names: Iterable[str] = self.param.opts if self.param is not None else ()
        name = max(names, key=len, default="a value")
        Output().fail(f"invalid {name}: {self.message}", self.hint)


def _parser(parse: Callable[[Any], R], hint: str) -> Callable[[Any], R]:
    def convert(value: Any) -> R:
        try:
            return parse(value)
        except ValueError as exc:
            raise OptionValueError(str(exc), hint) from None
        except errors.BackupError as exc:
            raise OptionValueError(exc.message, exc.hint or hint) from None

    return convert


def seconds_option(low: float, high: float, example: str) -> Callable[[Any], float]:
    """A finite number of seconds from `low` to `high` (nan and inf would wait forever)."""
    return _parser(lambda v: finite_number(v, low, high), f"give seconds, e.g. {example}")


def count_option(low: int, high: int, example: str) -> Callable[[Any], int]:
    """A whole number from `low` to `high` (no fractions, exponents or huge values)."""
    return _parser(lambda v: whole_number(v, low, high), f"give a whole number, e.g. {example}")


def config_option(key: str, example: str) -> Callable[[Any], Any]:
    """An option that overrides a config key, parsed exactly as config.toml's value is."""
    from ..core.settings import all_keys

    spec = all_keys().lookup(key)
    return _parser(spec.parse, f"{key}: {spec.help}, e.g. {example}")


label_parser = _parser(check_label, LABEL_HINT)


def refuse_together(**flags: object) -> None:
    """Refuse a contradictory pair of options (exit 2): `flags` maps each option to
    whether it was given."""
    given = [name for name, value in flags.items() if value not in (None, False)]
    if len(given) > 1:
        raise errors.UsageError(
            f"{' and '.join(given)} cannot be used together", f"use only one of {', '.join(flags)}"
        )


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
WIDE = typer.Option(
    False,
    "--wide",
    "-w",
    help="On a terminal, show every column, values whole (piped output always has them).",
)
QUIET = typer.Option(False, "--quiet", "-q", help="Print only errors.")
TO = typer.Option(
    None,
    "--to",
    metavar="CONNECTION",
    autocompletion=completion.connections,
    help="Connection id, prefix or label, or a provider id when it has one connection"
    + _adhoc_forms()
    + " (default: the default connection).",
)
LABEL = typer.Option(
    None,
    "--label",
    metavar="LABEL",
    parser=label_parser,
    help="Name to refer to the connection by (at most 64 chars).",
)


def max_duration_option() -> Any:
    """`--max-duration`: the run's time budget (every network wait ends by it)."""
    return typer.Option(
        None,
        "--max-duration",
        metavar="DURATION",
        parser=config_option("upload.max_duration", "--max-duration 90m"),
        help="Give up the run after this (90m, 6h; default upload.max_duration).",
    )


def bwlimit_option() -> Any:
    """`--bwlimit`: the run's bandwidth limit across every request (upload.bwlimit)."""
    return typer.Option(
        None,
        "--bwlimit",
        metavar="RATE",
        parser=config_option("upload.bwlimit", "--bwlimit 512k"),
        help="Bandwidth limit of the run: 512k, 2M (KiB/MiB per second), off, or a timetable "
        '"08:00,1M 23:00,off" (default upload.bwlimit).',
    )
