"""Shared CLI plumbing: the per-run state, and the one place errors are rendered."""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import typer

from .. import errors
from ..app import App
from ..output import Output

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
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        log.addHandler(handler)
        log.error("unexpected error", exc_info=exc)
        log.removeHandler(handler)
        handler.close()
    except OSError:
        pass
    return path


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
