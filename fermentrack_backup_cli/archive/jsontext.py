"""The text side of the streaming JSON check: a bounded window of decoded text over a
byte stream, and readers of single tokens (a small value decoded at C speed, a number
or literal, a string too long for the window checked piece by piece)."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import Any, Final

_NEAR_END: Final = 16  # an error this close to the end of the buffer may be a cut token
_WS = re.compile(r"[ \t\n\r]*")
# the inside of a string: plain characters and valid escapes (stops at '"', a control
# character, a bad escape, or the end of the buffer). Possessive (*+): a plain repeated
# group makes re keep state for every repetition, megabytes for one buffer of escapes.
_STRING_BODY = re.compile(
    r'[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*+'
)
_SCALAR = re.compile(
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null|NaN|-?Infinity"
)

LONG_STRING = object()  # a string checked piece by piece, not kept


class Invalid(Exception):
    """The document is not valid JSON (the message says where)."""


def end_of(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a match of `pattern` (one that may be empty) at `pos` ends."""
    m = pattern.match(text, pos)
    return pos if m is None else m.end()


class TextWindow:
    """Decoded text from `read`, at most about `window` characters kept at a time."""

    def __init__(self, read: Callable[[int], bytes], window: int, read_size: int) -> None:
        self._read = read
        self.window = window
        self.read_size = read_size
        self._decoder: codecs.IncrementalDecoder | None = None
        self._raw_decode = json.JSONDecoder().raw_decode
        self.buf = ""
        self.pos = 0
        self.offset = 0  # characters dropped from the front of buf
        self.eof = False

    def more(self) -> None:
        """Append the next piece of decoded text (and drop what has been consumed)."""
        data = self._read(self.read_size)
        if self._decoder is None:
            while 0 < len(data) < 4 and (piece := self._read(self.read_size)):
                data += piece  # (the encoding is told by the first four bytes)
            encoding = json.detect_encoding(data[:4]) if data else "utf-8"
            self._decoder = codecs.getincrementaldecoder(encoding)("surrogatepass")
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise Invalid(f"not valid text ({exc.reason}) near character {self.at()}") from None
        if not data:
            self.eof = True
        self.offset += self.pos
        self.buf = self.buf[self.pos :] + text
        self.pos = 0

    def fill(self, want: int) -> None:
        while len(self.buf) - self.pos < want and not self.eof:
            self.more()

    def at(self, pos: int | None = None) -> int:
        return self.offset + (self.pos if pos is None else pos)

    def skip_ws(self) -> str:
        """Skip whitespace; the next character, or "" at the end of the document."""
        while True:
            end = end_of(_WS, self.buf, self.pos)
            self.pos = end
            if end < len(self.buf):
                return self.buf[end]
            if self.eof:
                return ""
            self.more()

    def truncated(self, where: str) -> Invalid:
        return Invalid(f"the JSON ends early (truncated?) at character {self.at()} in {where}")

    def decode_small(self) -> tuple[bool, Any]:
        """Decode the value at pos when it fits in WINDOW: (True, value). (False, None)
        when it is larger, nests deeper than the C decoder goes, or holds an integer
        Python will not convert; the caller then reads it piecewise."""
        while True:
            buf, pos = self.buf, self.pos
            try:
                value, end = self._raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                unterminated = exc.msg.startswith("Unterminated string")
                if self.eof and (unterminated or exc.pos >= len(buf)):
                    raise self.truncated("a value") from None
                if self.eof or not (unterminated or exc.pos >= len(buf) - _NEAR_END):
                    raise Invalid(f"{exc.msg} at character {self.at(exc.pos)}") from None
            except (RecursionError, ValueError):
                return False, None
            else:  # (only arrays, objects and strings come here: they end with their close)
                self.pos = end
                return True, value
            have = len(buf) - pos  # the value may go on after the buffer: read more
            if have >= self.window:
                return False, None
            self.fill(min(self.window, max(2 * have, self.read_size)))

    def scalar(self) -> str:
        """Check the number or literal at pos; its text."""
        while True:
            m = _SCALAR.match(self.buf, self.pos)
            have = len(self.buf) - self.pos
            # a number may go on after the buffer ("1" of "1.5", "1e" of "1e+9")
            cut = have < _NEAR_END if m is None else len(self.buf) - m.end() < 3
            if not cut or self.eof or have >= self.window:
                break
            self.fill(have + self.read_size)
        if m is None:
            raise Invalid(f"Expecting value at character {self.at()}")
        if m.end() == len(self.buf) and not self.eof:
            raise Invalid(f"a number longer than {self.window} characters at character {self.at()}")
        self.pos = m.end()
        return m.group()

    def stream_string(self) -> None:
        """Check the string at pos piece by piece (it is larger than the window)."""
        start = self.at()
        self.pos += 1
        while True:
            self.pos = end_of(_STRING_BODY, self.buf, self.pos)
            left = len(self.buf) - self.pos
            if left and self.buf[self.pos] == '"':
                self.pos += 1
                return
            if left and self.buf[self.pos] != "\\":
                raise Invalid(f"Invalid control character at character {self.at()}")
            if left >= 6 or (left and self.eof):  # a backslash starting no valid escape
                raise Invalid(f"Invalid \\escape at character {self.at()}")
            if self.eof:
                raise Invalid(f"Unterminated string starting at character {start}")
            self.more()  # the end of the buffer, or an escape cut by it

    def string(self) -> Any:
        ok, value = self.decode_small()
        if ok:
            return value
        self.stream_string()
        return LONG_STRING
