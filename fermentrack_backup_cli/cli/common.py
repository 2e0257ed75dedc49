"""Shared CLI plumbing: the per-run state, the one place errors are rendered, and the
one reading of option values (numbers, labels) shared with config.toml's parsers."""

from __future__ import annotations

import errno
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

import typer

from .. import errors
from ..app import App
from ..config import finite_number, whole_number
from ..output import OUTPUT_ERRORS, Output, silence
from ..paths import not_a_directory
from ..text import LABEL_HINT, check_label, safe_text

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("fermentrack_backup")


@dataclass
class State:
    config: str | None = None
    debug: bool = False
    out: Output = field(default_factory=Output)
    app: App | None = None


state = State()


def get_app() -> App:
    if state.app is None:
        state.app = App.create(state.config)
    return state.app


def setup(*, json: bool = False, quiet: bool = False) -> Output:
    state.out = Output(json_mode=json, quiet=quiet)
    return state.out


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # systemd stops a unit with SIGTERM: clean up as for Ctrl-C


def _log_file() -> str:
    try:
        return str(get_app().dirs.log_file)
    except Exception:  # never fail while reporting a failure
        return "(log unavailable)"


def _log_exception(exc: BaseException) -> str:
    path = _log_file()
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        log.addHandler(handler)
        log.error("unexpected error", exc_info=exc)
        log.removeHandler(handler)
        handler.close()
    except OSError:
        pass
    return path


def stray_os_error(exc: OSError) -> errors.BackupError:
    """An OSError no lower layer turned into a BackupError: one line naming the path."""
    named = isinstance(exc.filename, str | bytes)
    where = f" {safe_text(os.fsdecode(exc.filename))}" if named else ""
    reason = exc.strerror or str(exc)
    if isinstance(exc, ConnectionError | TimeoutError):
        return errors.NetworkError(
            f"network error: {reason}", "check the network connection, then run again"
        )
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and named:
        path = Path(os.fsdecode(exc.filename))
        if any(p.exists() and not p.is_dir() for p in (path, *path.parents)):
            return not_a_directory(path)
    if exc.errno == errno.ENAMETOOLONG:
        return errors.BackupError(
            f"cannot use{where}: the name is too long",
            "use shorter file and folder names (at most 255 bytes each)",
            code="name_too_long",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return errors.PermissionDenied(
            f"permission denied:{where or ' a file'}",
            "check the owner and permissions of the file and its folder "
            "(and that the drive is not read-only)",
        )
    if exc.errno == errno.ENOSPC:
        return errors.InsufficientSpace(
            f"no space left on the device holding{where or ' a file'}",
            "free some space, then run again",
        )
    if exc.errno == errno.ENOENT:
        return errors.NotFound(
            f"no such file or directory:{where or ' (unnamed)'}", "check the path"
        )
    return errors.BackupError(
        f"cannot use{where}: {reason}",
        "check the path and the device it is on, then run again (--debug shows details)",
        code="os_error",
    )


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Render BackupError once as `error:` + `hint:` and exit with its code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        previous = signal.signal(signal.SIGTERM, _sigterm)
        try:
            return func(*args, **kwargs)
        except errors.BackupError as exc:
            state.out.error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            state.out.error(errors.Cancelled("interrupted", "run the command again to resume"))
            raise typer.Exit(errors.ExitCode.CANCELLED) from None
        except (typer.Exit, typer.Abort):
            raise
        except OSError as exc:
            if state.debug:
                raise
            mapped = stray_os_error(exc)
            state.out.error(mapped)
            raise typer.Exit(mapped.exit_code) from None
        except Exception as exc:
            if state.debug:
                raise
            path = _log_exception(exc)
            state.out.fail(
                f"unexpected {type(exc).__name__}; details in {path}",
                "run again with --debug to see the traceback",
            )
            raise typer.Exit(errors.ExitCode.FAILURE) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
            if state.app is not None:
                state.app.close()
                state.app = None

    return wrapper


def exit_with(code: int) -> None:
    if code:
        raise typer.Exit(code)


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def typer_app(**settings: Any) -> typer.Typer:
    """A Typer app with plain (Click) help: Rich's help renderer imports Rich and a
    Markdown parser (~0.4 s here, seconds on a Pi) just to print --help."""
    return typer.Typer(rich_markup_mode=None, **settings)


JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def any_to_json(items: list[Any]) -> list[Any]:
    return [item.to_json() for item in items]


# option values ------------------------------------------------------------------------


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
    from ..config import lookup_key

    spec = lookup_key(key)
    return _parser(spec.parse, f"{key}: {spec.help}, e.g. {example}")


label_option = _parser(check_label, LABEL_HINT)


def refuse_together(**flags: object) -> None:
    """Refuse a contradictory pair of options (exit 2): `flags` maps each option to
    whether it was given."""
    given = [name for name, value in flags.items() if value not in (None, False)]
    if len(given) > 1:
        raise errors.UsageError(
            f"{' and '.join(given)} cannot be used together", f"use only one of {', '.join(flags)}"
        )


def close_streams() -> None:
    """At exit: flush stdout and stderr; a lost one is silenced so the interpreter does
    not print "Exception ignored ... BrokenPipeError" (and exit 120) after a good run."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except OUTPUT_ERRORS:
            silence(stream)


def reopen_missing_std_fds() -> None:
    """A cron line with `>&-` or `2>&-` starts us without fd 1 or 2; the next file we
    open (the history database!) would get that number and receive stray writes. Fill
    the holes with /dev/null first."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # a lower hole was filled first; keep going
                os.dup2(opened, fd)
                os.close(opened)
