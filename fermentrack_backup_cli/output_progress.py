"""Progress on a terminal: one byte bar per file and the wait status line (output.py
decides when; this module draws them with Rich, imported only when a bar is shown)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .retry import Wait
from .text import safe_text
from .units import human_rate, mib

if TYPE_CHECKING:
    from .output import Output


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
    from rich.progress import Progress, ProgressColumn, TextColumn
    from rich.text import Text

    class ExceptStatus(ProgressColumn):
        def __init__(self, inner: ProgressColumn) -> None:
            super().__init__()
            self.inner = inner

        def render(self, task: Any) -> Any:
            return Text() if task.fields.get("status") else self.inner.render(task)

    # markup=False: a task's description is a file name, not Rich markup. No stdout
    # redirection: a console made while a bar is live must not keep Rich's proxy.
    return Progress(
        TextColumn("{task.description}", markup=False),
        *(ExceptStatus(column) for column in columns),
        console=out.err,
        transient=transient,
        redirect_stdout=False,
        redirect_stderr=False,
    )
