"""The bandwidth limit (`--bwlimit`, `upload.bwlimit`): rclone's rate syntax, a daily
timetable, and one token bucket shared by every in-flight request of a run.

Rates read as rclone reads them: `512k`, `2M`, `1.5M`, `off`, with binary multiples
(k = KiB, M = MiB, G = GiB; `B` for bytes); a bare number is KiB per second. A
timetable is `HH:MM,RATE` entries separated by spaces (`"08:00,1M 23:00,off"`), in
local time: at any moment the entry with the latest time at or before now applies,
and before the day's first entry the last one still does (it wraps past midnight).
A run that crosses a boundary switches rate there.

`Limiter.take(n)` reserves n bytes and sleeps until they are due (a reservation, as
Go's x/time/rate: every thread waits its own turn, the lock is never held while
sleeping). The bucket holds at most half a second of the rate (`BURST_S`), so over
any interval T no more than rate x T + burst bytes pass, plus one piece per thread.
Bodies are sent in pieces of a tenth of a second (`piece()`), so the rate is smooth
and no single wait is long. The clocks are injectable: tests run it on a fake clock.

Pure: the standard library only; providers receive a Limiter as a plain value.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

KIB = 1024
MIN_RATE = KIB  # 1k: below it one piece would wait for minutes
MAX_RATE = 1 << 50  # 1P: beyond any link
BURST_S = 0.5  # the bucket holds half a second of the rate
PIECE_S = 0.1  # a body is sent in pieces of a tenth of a second of the rate
MIN_PIECE = 4 * KIB
MAX_PIECE = 256 * KIB
UNLIMITED_PIECE = 1024 * KIB

_UNITS = {"b": 1, "k": KIB, "m": KIB**2, "g": KIB**3, "t": KIB**4, "p": KIB**5}
_RATE = re.compile(r"(\d{1,15}(?:\.\d{1,9})?)([bkmgtp]?)", re.IGNORECASE)
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def parse_rate(text: str) -> int | None:
    """Bytes per second from `512k`, `2M`, `off` (None); ValueError with the reason."""
    value = text.strip()
    if value.lower() == "off":
        return None
    match = _RATE.fullmatch(value)
    if match is None:
        raise ValueError(f"{text!r} is not a rate")
    number = float(match.group(1)) * _UNITS[(match.group(2) or "k").lower()]
    if not MIN_RATE <= number <= MAX_RATE:
        raise ValueError(f"{text!r} is out of range: give at least 1k, or off for no limit")
    return int(number)


@dataclass(frozen=True)
class Schedule:
    """A rate for every moment of the day: one rate, or a timetable of (minute, rate)."""

    entries: tuple[tuple[int, int | None], ...]  # (minute of the day, bytes/s or None)

    @property
    def off(self) -> bool:
        return all(rate is None for _, rate in self.entries)

    def rate_at(self, moment: datetime) -> int | None:
        minute = moment.hour * 60 + moment.minute
        current = self.entries[-1][1]  # before the first entry: yesterday's last one
        for start, rate in self.entries:
            if start <= minute:
                current = rate
        return current


def _parse_entry(text: str) -> tuple[int, int | None]:
    when, sep, rate = text.partition(",")
    match = _TIME.fullmatch(when)
    if not sep or match is None:
        raise ValueError(f"timetable entry {text!r} is not HH:MM,RATE")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        raise ValueError(f"timetable entry {text!r}: {when} is not a time of day (00:00-23:59)")
    if not rate.strip():
        raise ValueError(f"timetable entry {text!r} has no rate after the comma (HH:MM,RATE)")
    try:
        return hours * 60 + minutes, parse_rate(rate)
    except ValueError as exc:
        raise ValueError(f"timetable entry {text!r}: {exc}") from None


def parse_schedule(text: str) -> Schedule:
    """One rate (`2M`, `off`) or a timetable (`"08:00,1M 23:00,off"`); ValueError."""
    if not isinstance(text, str):
        raise ValueError("expected text, e.g. 512k, 2M or off")
    words = text.split()
    if not words:
        raise ValueError("the rate is empty")
    if len(words) == 1 and "," not in words[0]:
        if _TIME.fullmatch(words[0]):
            raise ValueError(f"timetable entry {words[0]!r} has no rate: give HH:MM,RATE")
        return Schedule(((0, parse_rate(words[0])),))
    entries = sorted((_parse_entry(word) for word in words), key=lambda entry: entry[0])
    starts = [start for start, _ in entries]
    if len(set(starts)) != len(starts):
        raise ValueError("the timetable names one time twice")
    return Schedule(tuple(entries))


def normalize(text: str) -> str:
    """The setting as stored: validated, its entries single-spaced."""
    parse_schedule(text)
    return " ".join(text.split())


@dataclass
class Limiter:
    """One token bucket for a run; thread-safe. `clock` is monotonic seconds, `sleep`
    waits, `now` gives local wall time for the timetable."""

    schedule: Schedule
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = datetime.now
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rate: int | None = field(default=None, init=False)
    _tokens: float = field(default=0.0, init=False)
    _last: float = field(default=0.0, init=False)
    _started: bool = field(default=False, init=False)
    taken: int = field(default=0, init=False)  # bytes granted so far (for tests and reports)
    waited: float = field(default=0.0, init=False)  # seconds of sleep asked for

    def rate(self) -> int | None:
        """The rate in force now, in bytes per second (None: no limit)."""
        return self.schedule.rate_at(self.now())

    def piece(self) -> int:
        """How many bytes to send before taking again: a tenth of a second of the rate."""
        rate = self.rate()
        if rate is None:
            return UNLIMITED_PIECE
        return max(MIN_PIECE, min(MAX_PIECE, int(rate * PIECE_S)))

    def take(self, n: int) -> None:
        """Reserve `n` bytes; sleep until they are due at the rate in force."""
        if n <= 0:
            return
        wait = self._reserve(n)
        if wait > 0:
            self.sleep(wait)

    def _reserve(self, n: int) -> float:
        rate = self.rate()
        with self._lock:
            now = self.clock()
            self.taken += n
            if rate != self._rate or not self._started:
                # a new rate (a timetable boundary) starts from a full bucket of its own:
                # what the old rate reserved is being waited out by its takers already
                self._rate, self._started = rate, True
                self._tokens = rate * BURST_S if rate is not None else 0.0
                self._last = now
            if rate is None:
                return 0.0
            burst = rate * BURST_S
            self._tokens = min(burst, self._tokens + (now - self._last) * rate)
            self._last = now
            self._tokens -= n
            wait = -self._tokens / rate if self._tokens < 0 else 0.0
            self.waited += wait
            return wait


def limiter(text: str | None) -> Limiter | None:
    """The run's limiter for a setting's text; None when it never limits."""
    if text is None:
        return None
    schedule = parse_schedule(text)
    return None if schedule.off else Limiter(schedule)


def pieces(data: bytes | bytearray | memoryview, limit: Limiter) -> Iterator[memoryview]:
    """`data` in pieces, each taken from `limit` before it is handed on (sent)."""
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        end = offset + limit.piece()
        piece = view[offset:end]
        limit.take(len(piece))
        yield piece
        offset = end


class ThrottledBody:
    """A request body of known length sent at the limiter's pace.

    Iterable (urllib3 sends each piece as it comes), with `__len__` so HTTP clients
    that look still send a Content-Length instead of chunked encoding."""

    def __init__(self, data: bytes, limit: Limiter) -> None:
        self.data = data
        self.limit = limit

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[memoryview]:
        return pieces(self.data, self.limit)


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def read(stream: Readable, n: int, limit: Limiter | None) -> bytes:
    """Up to `n` bytes from `stream`, at most a piece at a time when limited."""
    if limit is None:
        return stream.read(n)
    block = stream.read(min(n, limit.piece()) if n >= 0 else limit.piece())
    limit.take(len(block))
    return block
