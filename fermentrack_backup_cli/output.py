"""Human (Rich on a terminal), plain (piped, NO_COLOR) and --json output.

Data goes to stdout; progress, notices and errors go to stderr, so
`--json | jq` and cron mail stay clean. Modes are chosen once per run.

Text from outside (labels, file names, server messages) is shown through
`text.safe_text`, so escape sequences and bidi overrides are displayed, never obeyed.
Output never decides a run's outcome: a stream that cannot be written (the reader of
`| head -1` left, a closed stderr, a hung-up terminal, a full disk) is marked dead,
pointed at /dev/null so the interpreter's final flush stays quiet, and skipped; the
uploads go on and the exit code still reports them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from .columns import Column, elide, fit
from .errors import BackupError
from .text import safe_text
from .units import human_rate, human_size, mib

if TYPE_CHECKING:
    from rich.console import Console
from .models import UploadResult

JSON_SCHEMA_VERSION = 1
"""`schema_version` of every --json document (fermentrack_backup_cli/schemas/)."""

TRANSCRIPT_LINES = 200

StreamName = Literal["stdout", "stderr"]
# What a write to a lost stream raises: EPIPE/BrokenPipeError, EIO (terminal hung up),
# ENOSPC, EINVAL (Windows pipes); ValueError for a stream someone closed.
OUTPUT_ERRORS = (OSError, ValueError)


def _is_tty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False


def silence(stream: TextIO | None) -> None:
    """Point a lost stream's descriptor at /dev/null (the idiom from Python's SIGPIPE
    notes): what is still buffered, and the interpreter's flush at exit, go nowhere
    instead of printing "Exception ignored ... BrokenPipeError"."""
    if stream is None:
        return
    with contextlib.suppress(*OUTPUT_ERRORS):
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


@functools.cache
def _guarded_console_class() -> type[Console]:
    from rich.console import Console

    class GuardedConsole(Console):
        """Rich's default answer to a broken pipe is SystemExit(1), which would stop an
        upload half way (and it silences stdout even for a stderr console)."""

        on_lost: Callable[[], None] = staticmethod(lambda: None)

        def on_broken_pipe(self) -> None:
            self.quiet = True
            self.on_lost()

    return GuardedConsole


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
        self.dead: set[StreamName] = set()
        # the last text lines shown (data and notices, as plain text): a run's notification
        # (notify.py) carries their tail
        self.transcript: deque[str] = deque(maxlen=TRANSCRIPT_LINES)
        self._out: Console | None = None
        self._err: Console | None = None

    def _console(self, name: StreamName, tty: bool) -> Console:
        console = _guarded_console_class()(
            file=getattr(sys, name),
            no_color=self.no_color,
            highlight=False,
            force_terminal=tty,
            soft_wrap=not tty,
        )
        console.on_lost = lambda: self.lost(name)  # type: ignore[attr-defined]
        return console

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = self._console("stdout", self.stdout_tty)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = self._console("stderr", self.stderr_tty)
        return self._err

    # lost streams ----------------------------------------------------------------------

    def lost(self, name: StreamName) -> None:
        """`name` cannot be written any more: stop writing to it, quietly."""
        if name in self.dead:
            return
        self.dead.add(name)
        silence(getattr(sys, name))
        console = self._out if name == "stdout" else self._err
        if console is not None:
            console.quiet = True

    def alive(self, name: StreamName) -> bool:
        if name not in self.dead and getattr(sys, name) is None:  # closed before we started
            self.dead.add(name)
        return name not in self.dead

    @contextmanager
    def guard(self, name: StreamName) -> Iterator[None]:
        """Run a write; if the stream is lost, mark it dead instead of raising."""
        try:
            yield
        except OUTPUT_ERRORS:
            self.lost(name)

    def _write(self, name: StreamName, text: str) -> None:
        if not self.alive(name):
            return
        stream = getattr(sys, name)
        with self.guard(name):
            stream.write(text)
            stream.flush()

    def _print(self, name: StreamName, *objects: Any, **options: Any) -> None:
        if not self.alive(name):
            return
        with self.guard(name):
            (self.out if name == "stdout" else self.err).print(*objects, **options)

    # data on stdout ----------------------------------------------------------------

    def data(self, payload: Mapping[str, Any]) -> None:
        """One --json document: an object with `schema_version` first, then `payload`
        (lists are wrapped by the caller: `{"uploads": [...]}`). Its shape is
        fermentrack_backup_cli/schemas/<command>.json."""
        document = {"schema_version": JSON_SCHEMA_VERSION, **payload}
        # JSON stays exact: json.dumps escapes every control and non-ASCII character
        self._write("stdout", json.dumps(document, indent=2, default=str) + "\n")

    def line(self, text: str) -> None:
        """A plain line of data on stdout (no markup)."""
        text = safe_text(text)
        self.transcript.append(text)
        if self.stdout_tty:
            self._print("stdout", text, markup=False, highlight=False)
        else:
            self._write("stdout", text + "\n")

    def table(
        self,
        title: str,
        columns: Sequence[str | Column],
        rows: Sequence[Sequence[Any]],
        *,
        wide: bool = False,
    ) -> None:
        """Piped: every column, tab-separated, whole. On a terminal: the essential columns
        with values elided to the width (`wide`: every column, whole), a row per line."""
        cells = [["" if v is None else safe_text(str(v)) for v in row] for row in rows]
        if not self.rich_stdout:
            names = [c.name if isinstance(c, Column) else c for c in columns]
            lines = ["\t".join(names), *("\t".join(row) for row in cells)]
            self._write("stdout", "".join(f"{line}\n" for line in lines))
            return
        from .output_table import rich_table

        console = self.out
        fitted = fit(columns, cells, console.width, wide=wide)
        title = elide(safe_text(title), max(fitted.width, console.width))
        # wide: drawn at its own width (the terminal, or `less -S`, shows the rest)
        width, console.width = console.width, max(fitted.width, console.width)
        try:
            self._print("stdout", rich_table(title, fitted))
        finally:
            console.width = width

    def url(self, url: str, *, data: bool = False) -> None:
        """An address on a line of its own, written whole (never wrapped by Rich, so a
        copy of the line is the whole address), as an OSC 8 hyperlink on a terminal;
        piped or --json: the bare address. `data`: on stdout (`--print-url`)."""
        name: StreamName = "stdout" if data else "stderr"
        if not data and self.quiet:
            return
        url = safe_text(url)
        self.transcript.append(url)
        tty = self.stdout_tty if data else self.stderr_tty
        if tty and not self.json and os.environ.get("TERM") != "dumb":
            url = f"\x1b]8;;{url}\x1b\\{url}\x1b]8;;\x1b\\"
        self._write(name, url + "\n")

    # notices on stderr ---------------------------------------------------------------

    def _err_line(self, label: str, style: str, text: str) -> None:
        text = safe_text(text)
        self.transcript.append(f"{label} {text}" if label else text)
        if self.stderr_tty:
            from rich.markup import escape

            prefix = f"[{style}]{label}[/] " if label else ""
            self._print("stderr", f"{prefix}{escape(text)}")
        else:
            self._write("stderr", f"{label} {text}\n" if label else f"{text}\n")

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
            self.data({"error": {**exc.to_dict(), "exit_code": exc.exit_code}})
        self.fail(exc.message, exc.hint)


class ByteBars:
    """One Rich progress bar at a time on stderr: MiB done of total, MiB/s, ETA.

    The bar is live only while its file is read or sent: `finished` draws it at 100%
    (a short last callback does not leave it at 310.4/314.7) and ends its line, so the
    next message starts on a line of its own; a bar of a file that failed is erased."""

    def __init__(self, progress: Any, out: Output) -> None:
        self.progress = progress
        self.out = out
        self.task: Any = None
        self.total = 0

    def started(self, name: str, total: int, done: int = 0) -> None:
        with self.out.guard("stderr"):
            self.finished(complete=False)
            self.total = total
            self.task = self.progress.add_task(safe_text(name), total=total, completed=done)
            self.progress.start()

    def advance(self, nbytes: int) -> None:
        if self.task is not None:
            with self.out.guard("stderr"):
                self.progress.advance(self.task, nbytes)

    def finished(self, complete: bool = True) -> None:
        if self.task is None:
            return
        task, self.task = self.task, None
        live = self.progress.live
        with self.out.guard("stderr"):
            if complete:
                self.progress.update(task, completed=self.total)
            else:
                live.transient = True
            try:
                self.progress.stop()
            finally:
                live.transient = False
                self.progress.remove_task(task)


def _transfer_columns() -> tuple[Any, ...]:
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class Sizes(ProgressColumn):
        def render(self, task: Task) -> Text:
            total = task.total or 0
            return Text(f"{mib(task.completed)}/{mib(total)} MiB", style="progress.download")

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(human_rate(speed) if speed else "", style="progress.data.speed")

    return Sizes(), Rate()


@contextmanager
def byte_progress(out: Output) -> Iterator[ByteBars | None]:
    """Progress bars on a terminal only; cron, --quiet and --json get None."""
    if not out.stderr_tty or out.quiet or out.json or not out.alive("stderr"):
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    # markup=False: a task's description is a file name, not Rich markup. No stdout
    # redirection: a console made while a bar is live must not keep Rich's proxy.
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TaskProgressColumn(),
        *_transfer_columns(),
        TimeRemainingColumn(),
        console=out.err,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    bars = ByteBars(progress, out)
    try:
        yield bars
    finally:
        bars.finished(complete=False)


class UploadReporter:
    """Progress bars on a terminal, one summary line per file otherwise."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.bars: ByteBars | None = None

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
        if self.bars is not None:
            self.bars.finished(complete=result.status != "failed")
        if self.out.json:
            return
        name = Path(result.local_path).name
        if result.status == "failed":
            self.out.fail(f"{name}: {result.message}", result.hint, label="failed:")
            return
        if self.out.quiet:
            return
        if result.remote_path is None:  # nothing stored, e.g. outside retention
            self.out.line(f"{result.status}: {name} ({result.message})")
            return
        speed = f", {human_rate(result.bytes_per_s)}" if result.bytes_per_s else ""
        line = (
            f"{result.status}: {name} -> {result.remote_path} "
            f"({human_size(result.size)}{speed}) {result.message}"
        )
        self.out.line(line)

    def warning(self, name: str, text: str) -> None:
        """Something to know about an archive that is still uploaded (stderr)."""
        if not self.out.quiet:
            self.out.warn(f"{name}: {text}")
