"""Strict readers of setting values: whole and finite numbers, durations, choices, text.

One reading of values for config.toml, the environment and command-line options
(the CLI's option parsers wrap these): TOML hands over ints, floats (1e400 is inf)
and bools; the environment and options hand over text. Each parser raises
ValueError with the reason; `Keys.validate` turns that into InvalidValue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from .. import errors

Parser = Callable[[Any], Any]


def plain_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value


# One strict reading of numbers for config.toml, the environment and command-line options
# (cli.common wraps these): TOML hands over ints, floats (1e400 is inf) and bools; the
# environment and options hand over text. Only plain digits count, so "nan", "inf",
# "1e3", "2.0" and "0x10" are refused instead of becoming a hang or a silent rounding.
_WHOLE_TEXT = re.compile(r"[+-]?\d{1,18}")
_DECIMAL_TEXT = re.compile(r"[+-]?(\d{1,15}(\.\d{0,9})?|\.\d{1,9})")


def whole_number(value: Any, low: int, high: int) -> int:
    """An integer from `low` to `high`; ValueError (with the reason) otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _WHOLE_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, float | str) and not isinstance(value, bool):
        raise ValueError(f"expected a whole number from {low} to {high}, not {value!r}")
    else:
        raise ValueError(f"expected a whole number from {low} to {high}")
    if not low <= number <= high:
        raise ValueError(f"expected a whole number from {low} to {high}, not {number}")
    return number


def finite_number(value: Any, low: float, high: float) -> float:
    """A finite number from `low` to `high` (seconds, mostly); ValueError otherwise."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        number = float(value.strip())
    if number is None or not math.isfinite(number):
        raise ValueError(f"expected a finite number from {low:g} to {high:g}, not {value!r}")
    if not low <= number <= high:
        raise ValueError(f"expected a number from {low:g} to {high:g}, not {number:g}")
    return number


def int_range(low: int, high: int) -> Parser:
    def parse(value: Any) -> int:
        return whole_number(value, low, high)

    return parse


def int_or_auto(low: int, high: int) -> Parser:
    """A whole number in [low, high], or "auto" (the engine chooses)."""

    def parse(value: Any) -> int | str:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            return whole_number(value, low, high)
        except ValueError as exc:
            raise ValueError(f"{exc}, or auto") from None

    return parse


def choice(*choices: str) -> Parser:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of: {', '.join(choices)}")
        return str(value)

    return parse


def remote_folder(value: Any) -> str:
    raw = plain_text(value)
    if not raw.strip(" ").isprintable():  # newlines, escapes, bidi overrides: never meant
        raise ValueError("the folder must not contain control or formatting characters")
    text = raw.strip()
    if not text.startswith("/") or (text.endswith("/") and text != "/"):
        raise ValueError('expected an absolute folder like "/Fermentrack Backups" (no trailing /)')
    if any(part in ("..", ".") for part in text.split("/")):
        raise ValueError("the folder must not contain . or .. components")
    return text


_DURATION = re.compile(r"^(\d+[smhdwy])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


MAX_DURATION_SECONDS = 100 * 365 * 86400  # beyond any sensible wait; keeps sums finite


def parse_duration(text: str) -> float:
    """'26h', '90m', '1d12h', '45s', or plain seconds -> seconds (finite, at most 100y)."""
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)  # a 400-digit number is inf here; refused below
    elif _DURATION.match(text):
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)([smhdwy])", text))
    else:
        raise ValueError("expected a duration like 30s, 90m, 26h, 7d or 1w")
    if not seconds <= MAX_DURATION_SECONDS:  # also false for nan
        raise ValueError("expected a duration of at most 100y")
    return float(seconds)


def http_url(value: Any) -> str:
    text = plain_text(value).strip()
    if not re.match(r"^https?://[^/\s]+", text):
        raise ValueError("expected an http:// or https:// URL")
    return text.rstrip("/")


def duration(value: Any) -> str:
    parse_duration(value)
    return str(value).strip().lower()


# retention.* follow restic: -1 means unlimited; keep_within is a calendar duration
# (m = months, not minutes), validated by the parser the prune planner uses.
_keep_range = int_range(-1, 100000)


def keep_count(value: Any) -> int:
    # "unlimited" spares the user `config set KEY -- -1` (a bare -1 looks like an option)
    if isinstance(value, str) and value.strip().lower() in ("unlimited", "all"):
        return -1
    number: int = _keep_range(value)
    return number


def keep_within(value: Any) -> str:
    from ..retention.times import CalendarDuration  # pure; deferred: config imports stay minimal

    text = plain_text(value).strip().lower().replace(" ", "")
    try:
        CalendarDuration.parse(text)
    except errors.InvalidValue:
        raise ValueError(
            "expected a duration like 7d, 2w, 6m or 1y6m (y=years, m=months, w=weeks, "
            "d=days, h=hours)"
        ) from None
    return text


def bwlimit(value: Any) -> str:
    """A rate (`512k`, `2M`, `off`) or a timetable (`"08:00,1M 23:00,off"`), as rclone."""
    from .. import bandwidth  # pure; deferred: config imports stay minimal

    if isinstance(value, int | float) and not isinstance(value, bool):
        # TOML's bwlimit = 512 (or = nan): a rate needs its unit, so it is text
        raise ValueError('a rate is text with its unit: quote it, e.g. bwlimit = "512k"')
    return bandwidth.normalize(plain_text(value))
