"""Which table columns a terminal shows, and how long values are shortened to fit.

Pure: no Rich, no terminal. A table's columns say whether they are essential (the
compact default on a terminal) and whether their values may be elided. `fit` picks the
columns and elides values in the middle (`fermentrack-…-2026-12-01.tar.xz`), so every
row stays one line at the terminal's width instead of being wrapped into pieces.
`--wide` shows every column, unabridged; piped output never comes here (it is
tab-separated and whole).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ELLIPSIS = "…"
GAP = 2
"""Spaces between two columns as the table is drawn (no borders)."""
ARCHIVE_NAME = len("2026-11-27T03.00.00.tar.xz")
"""A Fermentrack archive name's length: what a `file`/`name` column keeps if it can."""
MIN_ELIDED = 8
"""An elided value keeps at least this many characters (`fer…z`) or its header's width."""


@dataclass(frozen=True)
class Column:
    name: str
    essential: bool = True
    """Shown by default on a terminal; the others only with --wide (and always piped)."""
    elide: bool = True
    """May be shortened in the middle; False for short fixed values (ids, times, sizes)."""
    keep: int = 0
    """Cells this column keeps before any other column is elided further (26: a whole
    Fermentrack archive name), so one long value does not cut every short one."""
    prefix: int | None = None
    """Compact view: only the first `prefix` characters (a connection id's unique prefix);
    --wide and piped output have the whole value, which a script can pass on."""


def as_column(column: str | Column) -> Column:
    return column if isinstance(column, Column) else Column(column)


def char_cells(char: str) -> int:
    """Terminal cells one character takes: 2 for wide (CJK, most emoji), 0 for combining
    and format characters, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cells(text: str) -> int:
    """`text`'s width on a terminal, in cells (what a table column must hold)."""
    if text.isascii():
        return len(text)
    return sum(char_cells(c) for c in text)


def _take(chars: Iterable[str], budget: int) -> str:
    taken: list[str] = []
    for char in chars:
        budget -= char_cells(char)
        if budget < 0:
            break
        taken.append(char)
    return "".join(taken)


def elide(text: str, width: int) -> str:
    """`text` in at most `width` terminal cells, the middle replaced by `…` (a file
    name's start and its date and extension at the end both stay readable)."""
    if cells(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    tail = (width - 1) // 2
    head = _take(text, width - 1 - tail)
    end = _take(reversed(text), width - 1 - cells(head))[::-1]
    return head + ELLIPSIS + end


@dataclass(frozen=True)
class Fitted:
    columns: tuple[str, ...]
    widths: tuple[int, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def width(self) -> int:
        return sum(self.widths) + GAP * max(0, len(self.widths) - 1)


def fit(
    columns: Sequence[str | Column],
    rows: Sequence[Sequence[str]],
    width: int | None,
    *,
    wide: bool = False,
) -> Fitted:
    """The columns to show and the rows shortened to `width` characters (None or
    `wide`: every column, nothing shortened)."""
    specs = [as_column(c) for c in columns]
    keep = [i for i, c in enumerate(specs) if wide or c.essential]
    names = tuple(specs[i].name for i in keep)
    picked = [tuple(_compact(specs[i], row[i], wide) for i in keep) for row in rows]
    widths = [max([cells(n), *(cells(r[k]) for r in picked)]) for k, n in enumerate(names)]
    if not wide and width is not None:
        elidable = [specs[i].elide for i in keep]
        headers = [cells(n) for n in names]
        # first give up what no column wants to keep; then, if need be, the kept cells
        kept = [max(h, specs[i].keep) for h, i in zip(headers, keep, strict=True)]
        widths = _shrink(_shrink(widths, elidable, kept, width), elidable, headers, width)
    fitted = tuple(tuple(elide(cell, w) for cell, w in zip(r, widths, strict=True)) for r in picked)
    return Fitted(names, tuple(widths), fitted)


def _compact(spec: Column, value: str, wide: bool) -> str:
    return value if wide or spec.prefix is None else value[: spec.prefix]


def _shrink(widths: list[int], elidable: list[bool], headers: list[int], total: int) -> list[int]:
    """Narrow the widest elidable column one character at a time until the table fits
    (or nothing can give more)."""
    widths = list(widths)
    budget = total - GAP * max(0, len(widths) - 1)
    floor = [
        max(h, MIN_ELIDED) if e else w for w, e, h in zip(widths, elidable, headers, strict=True)
    ]
    while sum(widths) > budget:
        candidates = [k for k, w in enumerate(widths) if w > floor[k]]
        if not candidates:
            break
        widest = max(candidates, key=lambda k: widths[k])
        widths[widest] -= 1
    return widths
