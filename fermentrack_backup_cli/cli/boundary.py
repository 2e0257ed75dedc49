"""The one error boundary: every command runs inside `BoundaryGroup.invoke`.

A `BackupError` is rendered once (`error:` + `hint:` on stderr, or a JSON error object
with --json) and becomes its exit code; Ctrl-C, SIGTERM and a cancelled prompt are
`cancelled` (130); a stray OSError becomes one line naming the path; anything else is
one line pointing at the log file (`--debug` re-raises it, so real bugs stay loud).
Commands only raise: none of them catches errors to print them.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from .. import errors
from ..output import OUTPUT_ERRORS, silence
from ..paths import app_dirs, not_a_directory
from ..text import safe_text
from .options import OptionValueError
from .runtime import Runtime

log = logging.getLogger("fermentrack_backup")


def _sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # systemd stops a unit with SIGTERM: clean up as for Ctrl-C


def _log_exception(exc: BaseException) -> str:
    try:
        path = app_dirs().log_file
    except Exception:  # never fail while reporting a failure
        return "(log unavailable)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        log.addHandler(handler)
        log.error("unexpected error", exc_info=exc)
        log.removeHandler(handler)
        handler.close()
    except OSError:
        pass
    return str(path)


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
    if exc.errno == errno.ENAMETOOLONG:  # exit 2, as fsutil.os_error says it
        return errors.UsageError(
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


PROMPT_CANCELLED = errors.Cancelled(
    "cancelled at the prompt (Ctrl-C or end of input): nothing changed",
    "run the command again and answer the prompt",
)
INTERRUPTED = errors.Cancelled(
    "cancelled: interrupted (Ctrl-C or SIGTERM)",
    "run the command again: an interrupted upload or download resumes where it stopped",
)


def exit_codes_epilog(width: int = 78) -> str:
    """The root `--help`'s exit code table (errors.EXIT_CODES), kept as written: click
    rewraps an epilog paragraph unless it starts with a \\b line. Narrower than its
    rows (under 72 columns), each meaning goes on the lines below its code."""
    if width >= 72:
        rows = [f"{row.code:>3}  {row.name:<18}  {row.brief}" for row in errors.EXIT_CODES]
    else:
        rows = []
        for row in errors.EXIT_CODES:
            rows.append(f"{row.code:>3}  {row.name}")
            rows += textwrap.wrap(
                row.brief, max(10, width - 9), initial_indent=" " * 7, subsequent_indent=" " * 7
            )
    return "\b\nExit codes:\n" + "\n".join(rows)


HELP_ORDER = (
    "providers",
    "link",
    "connections",
    "unlink",
    "upload",
    "uploads",
    "verify",
    "remote",
    "download",
    "prune",
    "status",
    "doctor",
    "config",
)
"""`--help` lists commands in the order a new user meets them (Typer would put the command
groups `link`, `remote` and `config` last)."""


class BoundaryGroup(TyperGroup):
    """The root command: runs every (sub)command inside the one error boundary."""

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        self.epilog = exit_codes_epilog(formatter.width - formatter.current_indent - 2)
        super().format_epilog(ctx, formatter)

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(HELP_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        """The root's own options (`fermentrack-backup --bogus`): an error like the rest."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except Exception as exc:
            if not _is_usage_error(exc) or isinstance(exc, OptionValueError):
                raise  # (an OptionValueError shows itself: `error: invalid --x` + hint)
            Runtime().out.error(command_line_error(exc))
            raise typer.Exit(errors.ExitCode.USAGE) from None

    def invoke(self, ctx: Any) -> Any:
        previous = signal.signal(signal.SIGTERM, _sigterm)
        try:
            return super().invoke(ctx)
        except errors.BackupError as exc:
            self._fail(ctx, exc)
        except typer.Abort:  # Ctrl-C or Ctrl-D (end of input) at a prompt
            self._fail(ctx, PROMPT_CANCELLED)
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM
            self._fail(ctx, INTERRUPTED)
        except OSError as exc:
            if self._runtime(ctx).debug:
                raise
            self._fail(ctx, stray_os_error(exc))
        except typer.Exit:
            raise
        except Exception as exc:
            if _is_usage_error(exc) and not isinstance(exc, OptionValueError):
                self._fail(ctx, command_line_error(exc))  # a bad command line, below the root
            if self._runtime(ctx).debug or _is_click_error(exc):
                raise
            path = _log_exception(exc)
            unexpected = errors.BackupError(
                f"unexpected {type(exc).__name__}; details in {path}",
                "run again with --debug to see the traceback",
                code="unexpected",
            )
            self._runtime(ctx).out.error(unexpected)  # (a JSON error object with --json)
            raise typer.Exit(errors.ExitCode.FAILURE) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._runtime(ctx).close()

    @staticmethod
    def _runtime(ctx: Any) -> Runtime:
        obj = getattr(ctx, "obj", None)
        return obj if isinstance(obj, Runtime) else Runtime()

    def _fail(self, ctx: Any, exc: errors.BackupError) -> None:
        self._runtime(ctx).out.error(exc)
        raise typer.Exit(exc.exit_code) from None


def command_line_error(exc: Any) -> errors.BackupError:
    """Click's usage errors (no such option or command, a missing argument) in our style,
    `error:` and `hint:` (not Click's usage block and `Error:`), exit 2."""
    where = exc.ctx.command_path if exc.ctx is not None else "fermentrack-backup"
    # Click offers --help as the only "possible option" for anything unknown: misleading
    message = exc.format_message().replace(" (Possible options: --help)", "")
    return errors.UsageError(message, f"see `{where} --help`", code="command_line")


def _is_usage_error(exc: Exception) -> bool:
    """Click's UsageError (typer vendors Click: known by name, as `_is_click_error`), but
    not its "no arguments: show the help" signal, which prints the help as it should."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "UsageError" in names and "NoArgsIsHelpError" not in names


def _is_click_error(exc: Exception) -> bool:
    """Click's own errors (a bad option, a usage error) keep their handling and exit 2."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__)


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
