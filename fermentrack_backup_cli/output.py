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

from .columns import Column, cells, elide, fit
from .errors import BackupError
from .output_progress import ByteBars, _progress, byte_progress
from .retry import Wait
from .text import safe_text
from .units import human_rate, human_size

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


def _console_environ() -> Mapping[str, str]:
    """The environment Rich sizes its console from, without a COLUMNS or LINES of 0:
    Rich takes `COLUMNS=0` as a width of 0 and then prints nothing at all (not even an
    error); without it the terminal's own size (or 80) is used, as for `COLUMNS=abc`."""
    bad = [k for k in ("COLUMNS", "LINES") if os.environ.get(k, "").strip("0") == ""]
    if not any(k in os.environ for k in bad):
        return os.environ
    return {k: v for k, v in os.environ.items() if k not in bad}


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
            _environ=_console_environ(),
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
        """A plain line of data on stdout (no markup), never broken by Rich: a path or a
        command in it copies whole (the terminal folds a long line, it inserts no newline)."""
        text = safe_text(text)
        self.transcript.append(text)
        if self.stdout_tty:
            self._print("stdout", text, markup=False, highlight=False, soft_wrap=True)
        else:
            self._write("stdout", text + "\n")

    def line_with_path(self, head: str, path: str, tail: str) -> None:
        """`head -> path tail` on one line of data on stdout. On a terminal too narrow
        for it, the path goes on its own indented line, written whole (the terminal may
        fold a long one at its edge, but it is never broken at a space in the path)."""
        whole = f"{head} -> {path} {tail}"
        if not self.stdout_tty or cells(safe_text(whole)) <= self.out.width:
            self.line(whole)
            return
        self.line(f"{head} {tail}")
        self.line(f"  -> {path}")

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
        from rich.text import Text

        from .output_table import rich_table

        console = self.out
        fitted = fit(columns, cells, console.width, wide=wide)
        # the title on a line of its own, elided to the terminal: as the table's title Rich
        # wrapped it to the table's width, cutting a folder path in two
        title = elide(safe_text(title), max(fitted.width, console.width))
        self._print("stdout", Text(title, style="table.title"), soft_wrap=True)
        # wide: drawn at its own width (the terminal, or `less -S`, shows the rest)
        width, console.width = console.width, max(fitted.width, console.width)
        try:
            self._print("stdout", rich_table("", fitted))
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
            self._print("stderr", f"{prefix}{escape(text)}", soft_wrap=True)
        else:
            self._write("stderr", f"{label} {text}\n" if label else f"{text}\n")

    def info(self, text: str) -> None:
        if not self.quiet:
            self._err_line("", "", text)

    def command(self, text: str) -> None:
        """A command to copy, on a line of its own on stderr, indented and never wrapped
        by Rich (in a wrapped notice `ssh -L ...` broke in two at 80 columns)."""
        if not self.quiet:
            text = safe_text(text)
            self.transcript.append(text)
            self._write("stderr", f"  {text}\n")

    def warn(self, text: str) -> None:
        self._err_line("warning:", "yellow", text)

    def fail(self, text: str, hint: str | None = None) -> None:
        """An error: `error: text` and `hint: hint` on stderr, the one style of all."""
        self._err_line("error:", "bold red", text)
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


def named(name: str, message: str) -> str:
    """`NAME: message`, unless the message names the file already (most do)."""
    return message if name in message else f"{name}: {message}"


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

    def file_done(self, result: UploadResult, *, fatal: bool = False) -> None:
        """One line per file; a failure is `error: NAME: message` and its hint. `fatal`:
        the error stops the run and the error boundary reports it, so it is not shown here
        too (once is enough)."""
        if self.bars is not None:
            self.bars.finished(complete=result.status != "failed")
        if self.out.json or fatal:
            return
        name = Path(result.local_path).name
        if result.status == "failed":
            self.out.fail(named(name, result.message), result.hint)
            return
        if self.out.quiet:
            return
        if result.remote_path is None:  # nothing stored, e.g. outside retention
            self.out.line(f"{result.status}: {name} ({result.message})")
            return
        speed = f", {human_rate(result.bytes_per_s)}" if result.bytes_per_s else ""
        sizes = f"({human_size(result.size)}{speed}) {result.message}"
        self.out.line_with_path(f"{result.status}: {name}", result.remote_path, sizes)

    def warning(self, name: str, text: str) -> None:
        """Something to know about an archive that is still uploaded (stderr)."""
        if not self.out.quiet:
            self.out.warn(f"{name}: {text}")
