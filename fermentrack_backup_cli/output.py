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
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from .errors import BackupError
from .retry import Wait
from .text import safe_text

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
        self.progress: Any = None  # the Rich Progress shown on stderr now (byte_progress)
        self._status: tuple[Any, Any] | None = None  # (progress, task) of the wait line
        self._status_lock = threading.Lock()  # waits are reported from worker threads too

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

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [["" if v is None else safe_text(str(v)) for v in row] for row in rows]
        if not self.rich_stdout:
            lines = ["\t".join(columns), *("\t".join(row) for row in cells)]
            self._write("stdout", "".join(f"{line}\n" for line in lines))
            return
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=escape(safe_text(title)) or None, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*(escape(c) for c in row))
        self._print("stdout", table)

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

    def waiting(self, wait: Wait) -> None:
        """A wait (a retry's backoff, the run lock). A terminal shows one status line that
        counts down and goes when the wait ends; otherwise one plain line per wait on
        stderr, also with --json (stdout keeps its JSON document); nothing with --quiet."""
        if self.quiet:
            return
        if not self.stderr_tty or self.json:
            if wait.first:
                self._err_line("", "", wait.text())
            return
        text = None if wait.ended else safe_text(wait.text())
        with self._status_lock, self.guard("stderr"):
            if self._status is not None and text is not None:
                self._status[0].update(self._status[1], description=text)
            elif self._status is not None:
                progress, task = self._status
                self._status = None
                progress.remove_task(task)
                if progress is not self.progress:  # the line's own, outside any bar
                    progress.stop()
            elif text is not None and self.alive("stderr"):
                progress = self.progress or _progress(self, ())
                progress.start()  # (a no-op for the bars, started already)
                self._status = (progress, progress.add_task(text, total=None, status=True))

    def error(self, exc: BackupError) -> None:
        if self.json:
            self.data({"error": {**exc.to_dict(), "exit_code": exc.exit_code}})
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

    def __init__(self, progress: Any, out: Output) -> None:
        self.progress = progress
        self.out = out
        self.task: Any = None

    def started(self, name: str, total: int, done: int = 0) -> None:
        with self.out.guard("stderr"):
            self.task = self.progress.add_task(safe_text(name), total=total, completed=done)

    def advance(self, nbytes: int) -> None:
        if self.task is not None:
            with self.out.guard("stderr"):
                self.progress.advance(self.task, nbytes)

    def finished(self) -> None:
        if self.task is not None:
            task, self.task = self.task, None
            with self.out.guard("stderr"):
                self.progress.remove_task(task)


@contextmanager
def byte_progress(out: Output) -> Iterator[ByteBars | None]:
    """Progress bars on a terminal only; cron, --quiet and --json get None."""
    if not out.stderr_tty or out.quiet or out.json or not out.alive("stderr"):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    progress = _progress(out, columns)
    out.waiting(Wait("", 0, ended=True))  # a wait's own line ends where bars begin
    with out.guard("stderr"):
        progress.start()
    out.progress = progress
    try:
        yield ByteBars(progress, out)
    finally:
        with out._status_lock:
            out.progress = out._status = None
        with out.guard("stderr"):
            progress.stop()


def _progress(out: Output, columns: Sequence[Any]) -> Any:
    """A transient Progress on stderr: a name and `columns`; a wait is a text-only task."""
    from rich.progress import Progress, ProgressColumn, TextColumn
    from rich.text import Text

    class ExceptStatus(ProgressColumn):
        def __init__(self, inner: ProgressColumn) -> None:
            super().__init__()
            self.inner = inner

        def render(self, task: Any) -> Any:
            return Text() if task.fields.get("status") else self.inner.render(task)

    # markup=False: a task's description is a file name, not Rich markup
    return Progress(
        TextColumn("{task.description}", markup=False),
        *(ExceptStatus(column) for column in columns),
        console=out.err,
        transient=True,
    )


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
            self.bars.finished()
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
