"""Tables on a terminal (Rich): part of output.py, split off to keep it small.

`columns.fit` chooses the columns and shortens the values; this module only draws them:
no borders, every cell on one line (no_wrap), so a row is a line at any width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .columns import Fitted

if TYPE_CHECKING:
    from rich.table import Table


def rich_table(title: str, fitted: Fitted) -> Table:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=escape(title) or None,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    for name, width in zip(fitted.columns, fitted.widths, strict=True):
        table.add_column(name, no_wrap=True, min_width=width, max_width=width, overflow="crop")
    for row in fitted.rows:
        table.add_row(*(escape(c) for c in row))
    return table
