"""Bounded-memory validation and recognition of a JSON data dump.

`scan_json(read)` reads one JSON document from a byte stream, once, and says whether it
is valid JSON, what its top level is (object, array or scalar), whether a top-level
object has a `file_version` key (and its value), and whether a top-level array looks
like Django `dumpdata` output (every element an object with "model" and "fields").

Memory stays bounded whatever the document's size. A value of up to `WINDOW`
characters is decoded by the C decoder (`json.JSONDecoder.raw_decode`), looked at and
dropped; a larger array or object is entered, and its elements are handled the same
way, one at a time; a larger string is checked piece by piece. So a 250 MB dump costs
one `WINDOW` of text plus the objects of one element, never the whole document. The
only valid JSON refused is a single number longer than `WINDOW` characters and arrays or
objects too large to decode at once nested more than `MAX_DEPTH` levels deep.

Accepted is what Python's `json.loads` accepts for bytes (UTF-8, with or without a BOM,
UTF-16 and UTF-32; NaN and Infinity, which Python's `json.dumps` writes). Errors of the
underlying stream propagate unchanged: only the document's content is judged here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from .jsontext import LONG_STRING, Invalid, TextWindow

READ_SIZE: Final = 64 * 1024  # bytes read from the stream at a time
WINDOW: Final = 256 * 1024  # characters: larger values are entered, not decoded at once
MAX_DEPTH: Final = 10_000
FILE_VERSION_MAX_CHARS: Final = 1024  # a longer file_version value is noted, not kept

_NEXT = re.compile(r"[ \t\n\r]*([,\]}]?)[ \t\n\r]*")  # the delimiter after an element


@dataclass(frozen=True)
class JsonInfo:
    """What `scan_json` found. `error` is None exactly when the document is valid."""

    error: str | None = None
    kind: str | None = None  # object | array | scalar (None when nothing was read)
    has_file_version: bool = False
    file_version: Any = None  # its value, when short enough to keep
    dumpdata_rows: bool = False  # an array whose every element is a dumpdata row
    items: int = 0  # top-level keys or elements

    @property
    def valid(self) -> bool:
        return self.error is None


class _Frame:
    """An array or object too large to decode at once, being read element by element."""

    __slots__ = ("depth", "first", "has_fields", "has_model", "kind", "row")

    def __init__(self, kind: str, depth: int, *, row: bool = False) -> None:
        self.kind = kind
        self.depth = depth
        self.first = True
        self.row = row  # an element of the top-level array: collect its keys
        self.has_model = False
        self.has_fields = False


def _is_row(value: Any) -> bool:
    return type(value) is dict and isinstance(value.get("model"), str) and "fields" in value


def _short(value: Any) -> bool:
    """Whether a file_version value is short enough to keep (and show)."""
    return len(json.dumps(value)) <= FILE_VERSION_MAX_CHARS


_KIND = {"{": "object", "[": "array"}
_SKIPPED = object()  # a number or literal that was checked but not kept


class _Scanner(TextWindow):
    def __init__(
        self, read: Callable[[int], bytes], window: int, read_size: int, max_depth: int
    ) -> None:
        super().__init__(read, window, read_size)
        self.max_depth = max_depth
        self.stack: list[_Frame] = []
        # findings
        self.kind: str | None = None
        self.has_file_version = False
        self.file_version: Any = None
        self.rows = True
        self.items = 0

    # ----------------------------------------------------------------- structure

    def _value(self, parent: _Frame | None, key: Any, ch: str) -> None:
        """Read the value starting with `ch` at pos, entering it when it is large."""
        start = self.at()
        if ch in "[{":
            ok, value = self.decode_small()
            if ok:
                self._note(parent, key, value)
                return
            if len(self.stack) >= self.max_depth:
                raise Invalid(f"nested deeper than {self.max_depth} levels at character {start}")
            depth = 0 if parent is None else parent.depth + 1
            row = parent is not None and parent.depth == 0 and parent.kind == "[" and ch == "{"
            self._entered(parent, key, ch)
            self.stack.append(_Frame(ch, depth, row=row))
            self.pos += 1
        elif ch == '"':
            value = self.string()
            self._note(parent, key, value)
        else:
            text = self.scalar()
            if self._wants_value(parent, key):
                try:
                    value = json.loads(text)
                except ValueError:  # an integer too long for int(): keep the text
                    value = text
                self._note(parent, key, value)
            else:
                self._note(parent, key, _SKIPPED)

    def _wants_value(self, parent: _Frame | None, key: Any) -> bool:
        return parent is None or (parent.depth == 0 and key == "file_version")

    def _note(self, parent: _Frame | None, key: Any, value: Any) -> None:
        """A complete value was read (`value` is LONG_STRING or _SKIPPED when it was
        not kept)."""
        if parent is None:
            self._note_top(value)
        elif parent.depth == 0:
            self.items += 1
            if parent.kind == "{":
                if key == "file_version":
                    self.has_file_version = True
                    kept = value is not LONG_STRING and value is not _SKIPPED
                    self.file_version = value if kept and _short(value) else None
            elif not _is_row(value):
                self.rows = False
        elif parent.row:
            if key == "model":
                parent.has_model = isinstance(value, str) or value is LONG_STRING
            elif key == "fields":
                parent.has_fields = True

    def _note_top(self, value: Any) -> None:
        if type(value) is dict:
            self.kind = "object"
            self.items = len(value)
            if "file_version" in value:
                self.has_file_version = True
                fv = value["file_version"]
                self.file_version = fv if _short(fv) else None
        elif type(value) is list:
            self.kind = "array"
            self.items = len(value)
            self.rows = all(_is_row(v) for v in value)
        else:
            self.kind = "scalar"

    def _entered(self, parent: _Frame | None, key: Any, ch: str) -> None:
        """A large array or object is about to be read element by element."""
        if parent is None:
            self.kind = _KIND[ch]
        elif parent.depth == 0:
            self.items += 1
            if parent.kind == "{":
                if key == "file_version":
                    self.has_file_version = True
                    self.file_version = None  # too large to keep
            elif ch != "{":
                self.rows = False
        elif parent.row:
            if key == "fields":
                parent.has_fields = True
            elif key == "model":
                parent.has_model = False

    def _close(self, frame: _Frame) -> None:
        self.stack.pop()
        self.pos += 1
        if frame.row and not (frame.has_model and frame.has_fields):
            self.rows = False

    def _step(self) -> None:
        """Read the next element (or the end) of the innermost open array or object."""
        frame = self.stack[-1]
        close = "]" if frame.kind == "[" else "}"
        where = "an array" if frame.kind == "[" else "an object"
        if frame.kind == "[":
            self._array_run(frame)  # the fast path: many small elements in a row
        ch = self.skip_ws()
        if not ch:
            raise self.truncated(where)
        if frame.first:
            frame.first = False
            if ch == close:
                self._close(frame)
                return
        elif ch == ",":
            self.pos += 1
            ch = self.skip_ws()
            if not ch:
                raise self.truncated(where)
        elif ch == close:
            self._close(frame)
            return
        else:
            raise Invalid(f"Expecting ',' delimiter at character {self.at()}")
        if frame.kind == "[":
            self._value(frame, None, ch)
            return
        if ch != '"':
            raise Invalid(
                f"Expecting property name enclosed in double quotes at character {self.at()}"
            )
        key = self.string()
        ch = self.skip_ws()
        if ch != ":":
            if not ch:
                raise self.truncated(where)
            raise Invalid(f"Expecting ':' delimiter at character {self.at()}")
        self.pos += 1
        ch = self.skip_ws()
        if not ch:
            raise self.truncated(where)
        self._value(frame, key, ch)

    def _array_run(self, frame: _Frame) -> None:
        """Decode consecutive small elements of an array straight from the buffer.

        Stops (leaving pos before a delimiter or element) at anything unusual, which
        `_step` then handles with the general code: the end of the buffer, a large
        element, an error, the end of the array.
        """
        top = frame.depth == 0
        decode = self._raw_decode
        while True:
            buf, pos = self.buf, self.pos
            m = _NEXT.match(buf, pos)
            if m is None:  # (cannot happen: the pattern matches the empty string)
                return
            delim, start = m.group(1), m.end()
            if frame.first:
                if delim or start >= len(buf):
                    return
            elif delim != "," or start >= len(buf):
                return
            try:
                value, end = decode(buf, start)
            except (ValueError, RecursionError):
                return
            if end + 3 > len(buf):  # a number may go on after the buffer ("1" of "1.5")
                return
            frame.first = False
            self.pos = end
            if top:
                self.items += 1
                if self.rows and not _is_row(value):
                    self.rows = False

    def run(self) -> None:
        ch = self.skip_ws()
        if not ch:
            raise Invalid("no JSON value (the member is empty)")
        self._value(None, None, ch)
        while self.stack:
            self._step()
        if self.skip_ws():
            raise Invalid(f"Extra data at character {self.at()}")


def scan_json(
    read: Callable[[int], bytes],
    *,
    window: int = WINDOW,
    read_size: int = READ_SIZE,
    max_depth: int = MAX_DEPTH,
) -> JsonInfo:
    """Validate and recognise the JSON document read from `read(n)` (until it returns b"").

    Reads the stream to the end of the JSON document (a caller wanting the whole stream
    read must drain the rest: after an error, reading stops early).
    """
    scanner = _Scanner(read, window, read_size, max_depth)
    try:
        scanner.run()
    except Invalid as exc:
        return JsonInfo(error=str(exc), kind=scanner.kind)
    rows = scanner.kind == "array" and scanner.rows
    return JsonInfo(
        kind=scanner.kind,
        has_file_version=scanner.kind == "object" and scanner.has_file_version,
        file_version=scanner.file_version,
        dumpdata_rows=rows,
        items=scanner.items,
    )
