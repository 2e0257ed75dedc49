"""The CLI's per-run state, carried as Typer's context object (`ctx.obj`).

The root callback creates it from the global options; a command asks it for its
`Output` (which the error boundary then uses to render an error in the same mode) and
for the core `Context`, opened on first use and closed by the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import typer

from ..core.context import Context
from ..output import Output


@dataclass
class Runtime:
    config: str | None = None
    debug: bool = False
    out: Output = field(default_factory=Output)
    _context: Context | None = field(default=None, repr=False)

    def output(self, *, json: bool = False, quiet: bool = False) -> Output:
        self.out = Output(json_mode=json, quiet=quiet)
        return self.out

    @property
    def context(self) -> Context:
        if self._context is None:
            self._context = Context.create(self.config)
            # every wait of the run shows through the command's output (chosen later)
            self._context.on_wait = lambda wait: self.out.waiting(wait)
        return self._context

    def close(self) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None


def runtime(ctx: typer.Context) -> Runtime:
    if not isinstance(ctx.obj, Runtime):  # a command invoked without the root callback
        ctx.obj = Runtime()
    return cast(Runtime, ctx.obj)
