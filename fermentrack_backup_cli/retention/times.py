"""When a backup was made, and calendar durations (`1y6m`, `30d`) as restic reads them.

A backup's time comes from its Fermentrack-style name (`2026-11-27T03.00.00.tar.xz`,
read as UTC). Retention trusts only that name time (`name_time`); listings fall back to
the modified time for display (`backup_time`). `CalendarDuration` subtracts years and
months like Go's `AddDate`, as restic's `--keep-within` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .. import errors
from ..models import RemoteFile

# --------------------------------------------------------------------------- backup times

_NAME_TIME = re.compile(
    r"""^(?:.*[^0-9])?                      # optional prefix, e.g. fermentrack_backup_
    (?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})
    [Tt]
    (?P<h>\d{2})(?P<sep>[.:\-])(?P<mi>\d{2})(?P=sep)(?P<s>\d{2})
    (?:Z|z)?
    \.(?:tar\.xz|tar\.gz|tgz|zip)$""",
    re.VERBOSE | re.IGNORECASE,
)


def name_time(name: str) -> datetime | None:
    """The UTC time in a Fermentrack-style name like `2026-11-27T03.00.00.tar.xz`, else None.

    `HH:MM:SS` and `HH-MM-SS` are accepted too, and any prefix that does not end in a digit
    (`fermentrack_backup_2026-11-27T03.00.00.tar.xz`).
    """
    match = _NAME_TIME.match(name)
    if match is None:
        return None
    try:
        return datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"]),
            tzinfo=UTC,
        )
    except ValueError:  # 2026-13-45T99.00.00: looks like a time, is not one
        return None


def as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def backup_time(file: RemoteFile) -> datetime | None:
    """When a backup was taken, for display: the time in its name, else its modified time.

    Name times are UTC; a naive modified time is taken as UTC. The result is always UTC.
    Retention does not use this: a file without a name time is never a prune candidate.
    """
    from_name = name_time(file.name)
    if from_name is not None:
        return from_name
    if file.modified is not None:
        return as_utc(file.modified)
    return None


# ------------------------------------------------------------------------------ durations

_DURATION_PART = re.compile(r"(\d+)([ymwdh])")
_DURATION_WHOLE = re.compile(r"(?:\d+[ymwdh])+")


@dataclass(frozen=True)
class CalendarDuration:
    """restic's `Duration`: years, months, days and hours, subtracted on the calendar."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> CalendarDuration:
        """`30d`, `2w`, `1y6m`, `1d12h`: y=years, m=months, w=weeks (7 days), d=days, h=hours."""
        cleaned = str(text).strip().lower().replace(" ", "")
        if not _DURATION_WHOLE.fullmatch(cleaned):
            raise errors.InvalidValue(
                f"invalid keep_within duration {text!r}",
                "use a duration like 7d, 2w, 6m or 1y6m "
                "(y=years, m=months, w=weeks, d=days, h=hours)",
            )
        totals = {"y": 0, "m": 0, "w": 0, "d": 0, "h": 0}
        for number, unit in _DURATION_PART.findall(cleaned):
            totals[unit] += int(number)
        return cls(
            years=totals["y"],
            months=totals["m"],
            days=totals["d"] + 7 * totals["w"],
            hours=totals["h"],
        )

    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.hours)

    def subtract_from(self, moment: datetime) -> datetime:
        """`moment` minus this duration, normalised like Go's `AddDate` (Mar 31 - 1m = Mar 3)."""
        month_index = moment.year * 12 + (moment.month - 1) - self.years * 12 - self.months
        year, month0 = divmod(month_index, 12)
        try:
            day = date(year, month0 + 1, 1) + timedelta(days=moment.day - 1 - self.days)
            shifted = datetime.combine(day, moment.timetz())
            return shifted - timedelta(hours=self.hours)
        except (ValueError, OverflowError):  # before year 1: everything is "within"
            return datetime.min.replace(tzinfo=UTC)

    def __str__(self) -> str:
        text = "".join(
            f"{value}{unit}"
            for value, unit in (
                (self.years, "y"),
                (self.months, "m"),
                (self.days, "d"),
                (self.hours, "h"),
            )
            if value
        )
        return text or "0h"


def format_timedelta(delta: timedelta) -> str:
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(delta.days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    text = "".join(f"{value}{unit}" for value, unit in parts if value)
    return text or "0s"
