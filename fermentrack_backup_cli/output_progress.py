"""Progress on a terminal: one byte bar per file and the wait status line (output.py
decides when; this module draws them with Rich, imported only when a bar is shown)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .columns import elide
from .retry import Wait
from .text import safe_text
from .units import human_rate, progress_pair

if TYPE_CHECKING:
    from .output import Output


BAR_ROOM = 46
"""Cells a byte bar needs besides the file name: a short bar, `100%`, `310.4/314.7 MiB`,
`11.8 MiB/s` and the ETA, with the spaces between them."""


class ByteBars:
    """One Rich progress bar at a time on stderr: done of total (in the total's unit),
    MiB/s, ETA.

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
            # elided (cells, in the middle) to leave the bar, the counts and the ETA room:
            # a long or wide-character name took the line, crushed them to `…` and wrapped
            # the bar onto a second line that every redraw left behind
            room = max(12, self.out.err.width - BAR_ROOM)
            label = elide(safe_text(name), room)
            self.task = self.progress.add_task(label, total=total, completed=done)
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
            pair = progress_pair(task.completed, total)
            return Text(pair, style="progress.download", no_wrap=True, overflow="ellipsis")

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            rate = human_rate(speed) if speed else ""
            return Text(rate, style="progress.data.speed", no_wrap=True, overflow="ellipsis")

    return Sizes(), Rate()


@contextmanager
def byte_progress(out: Output) -> Iterator[ByteBars | None]:
    """Progress bars on a terminal only; cron, --quiet, --json and TERM=dumb get None
    (Rich cannot redraw a dumb terminal: it printed each bar once, at 100%, and a blank
    line after it, between the summary lines)."""
    shown = out.stderr_tty and not (out.quiet or out.json) and out.alive("stderr")
    if not shown or out.err.is_dumb_terminal:  # (out.err: Rich, only once on a terminal)
        yield None
        return
    from rich.progress import BarColumn, TaskProgressColumn, TimeRemainingColumn

    columns = (BarColumn(), TaskProgressColumn(), *_transfer_columns(), TimeRemainingColumn())
    progress = _progress(out, columns, transient=False)
    out.waiting(Wait("", 0, ended=True))  # a wait's own line ends where bars begin
    bars = ByteBars(progress, out)
    out.progress = progress
    try:
        yield bars
    finally:
        bars.finished(complete=False)
        with out._status_lock:
            out.progress = out._status = None


def _progress(out: Output, columns: Sequence[Any], *, transient: bool = True) -> Any:
    """A transient Progress on stderr: a name and `columns`; a wait is a text-only task."""
    from rich.progress import Progress, TextColumn
    from rich.text import Text

    class WithStatus(Progress):
        """The bars as a table, a wait's status below them as a line of its own: in the
        table its long text would widen the name column and wrap the bar's row."""

        def get_renderables(self) -> Iterator[Any]:
            bars = [task for task in self.tasks if not task.fields.get("status")]
            if bars:
                yield self.make_tasks_table(bars)
            for task in self.tasks:
                if task.fields.get("status"):
                    yield Text(task.description, no_wrap=True, overflow="ellipsis")

    # markup=False: a task's description is a file name, not Rich markup. No stdout
    # redirection: a console made while a bar is live must not keep Rich's proxy.
    return WithStatus(
        TextColumn("{task.description}", markup=False),
        *columns,
        console=out.err,
        transient=transient,
        redirect_stdout=False,
        redirect_stderr=False,
    )
