"""Human (Rich on a terminal), plain (piped, NO_COLOR) and --json output.

Data goes to stdout; progress, notices and errors go to stderr, so
`--json | jq` and cron mail stay clean. Modes are chosen once per run.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import BackupError

if TYPE_CHECKING:
    from rich.console import Console
from .models import UploadResult


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """Output for one run. Rich is imported only when a terminal will show it, so a
    piped cron run (plain lines) never pays its import (~0.1 s here, more on a Pi)."""

    def __init__(self, *, json_mode: bool = False, quiet: bool = False) -> None:
        self.json = json_mode
        self.quiet = quiet
        self.no_color = bool(os.environ.get("NO_COLOR"))
        self.stdout_tty = _is_tty(sys.stdout)
        self.stderr_tty = _is_tty(sys.stderr)
        self.rich_stdout = self.stdout_tty and not json_mode
        self._out: Console | None = None
        self._err: Console | None = None

    def _console(self, stream: TextIO, tty: bool) -> Console:
        from rich.console import Console

        return Console(
            file=stream,
            no_color=self.no_color,
            highlight=False,
            force_terminal=tty,
            soft_wrap=not tty,
        )

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = self._console(sys.stdout, self.stdout_tty)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = self._console(sys.stderr, self.stderr_tty)
        return self._err

    # data on stdout ----------------------------------------------------------------

    def data(self, obj: Any) -> None:
        sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        """A plain line of data on stdout (no markup)."""
        if self.stdout_tty:
            self.out.print(text, markup=False, highlight=False)
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [["" if v is None else str(v) for v in row] for row in rows]
        if not self.rich_stdout:
            sys.stdout.write("\t".join(columns) + "\n")
            for row in cells:
                sys.stdout.write("\t".join(row) + "\n")
            sys.stdout.flush()
            return
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=title or None, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*(escape(c) for c in row))
        self.out.print(table)

    # notices on stderr ---------------------------------------------------------------

    def _err_line(self, label: str, style: str, text: str) -> None:
        if self.stderr_tty:
            from rich.markup import escape

            prefix = f"[{style}]{label}[/] " if label else ""
            self.err.print(f"{prefix}{escape(text)}")
        else:
            sys.stderr.write(f"{label} {text}\n" if label else f"{text}\n")
            sys.stderr.flush()

    def info(self, text: str) -> None:
        if not self.quiet:
            self._err_line("", "", text)

    def warn(self, text: str) -> None:
        self._err_line("warning:", "yellow", text)

    def fail(self, text: str, hint: str | None = None, label: str = "error:") -> None:
        self._err_line(label, "bold red", text)
        if hint:
            self._err_line("hint:", "dim", hint)

    def error(self, exc: BackupError) -> None:
        if self.json:
            self.data({"error": exc.to_dict()})
        self.fail(exc.message, exc.hint)


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds // span}{unit} ago"
    return f"{seconds}s ago"


class ByteBars:
    """One Rich progress bar at a time on stderr: bytes, speed, ETA."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.task: Any = None

    def started(self, name: str, total: int, done: int = 0) -> None:
        self.task = self.progress.add_task(name, total=total, completed=done)

    def advance(self, nbytes: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, nbytes)

    def finished(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None


@contextmanager
def byte_progress(out: Output) -> Iterator[ByteBars | None]:
    """Progress bars on a terminal only; cron, --quiet and --json get None."""
    if not out.stderr_tty or out.quiet or out.json:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(
        TextColumn("{task.description}"), *columns, console=out.err, transient=True
    ) as progress:
        yield ByteBars(progress)


class UploadReporter:
    """Progress bars on a terminal, one summary line per file otherwise."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.bars: ByteBars | None = None
        self.results: list[UploadResult] = []

    @contextmanager
    def running(self) -> Iterator[UploadReporter]:
        with byte_progress(self.out) as bars:
            self.bars = bars
            yield self

    def file_started(self, name: str, size: int) -> None:
        if self.bars is not None:
            self.bars.started(name, size)

    def advance(self, nbytes: int) -> None:
        if self.bars is not None:
            self.bars.advance(nbytes)

    def file_done(self, result: UploadResult) -> None:
        self.results.append(result)
        if self.bars is not None:
            self.bars.finished()
        if self.out.json:
            return
        name = Path(result.local_path).name
        if result.status == "failed":
            self.out.fail(f"{name}: {result.message}", result.hint, label="failed:")
            return
        if self.out.quiet:
            return
        speed = f", {human_size(int(result.bytes_per_s))}/s" if result.bytes_per_s else ""
        line = (
            f"{result.status}: {name} -> {result.remote_path} "
            f"({human_size(result.size)}{speed}) {result.message}"
        )
        self.out.line(line)

    def warning(self, name: str, text: str) -> None:
        """Something to know about an archive that is still uploaded (stderr)."""
        if not self.out.quiet:
            self.out.warn(f"{name}: {text}")
