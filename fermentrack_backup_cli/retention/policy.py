"""A retention policy: restic `forget`'s keep rules, validated (-1 means unlimited).

`Policy.from_mapping` reads config-style keys (`keep_daily`, `retention.keep_daily`);
`keep_within` is a calendar duration counted back from now by the planner (`plan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import errors
from .times import CalendarDuration, format_timedelta

UNLIMITED = -1

# restic's wording for each counted rule, in the order restic evaluates them.
COUNT_RULES: tuple[tuple[str, str], ...] = (
    ("keep_last", "last snapshot"),
    ("keep_hourly", "hourly snapshot"),
    ("keep_daily", "daily snapshot"),
    ("keep_weekly", "weekly snapshot"),
    ("keep_monthly", "monthly snapshot"),
    ("keep_yearly", "yearly snapshot"),
)
POLICY_KEYS = (*(name for name, _ in COUNT_RULES), "keep_within")

EMPTY_POLICY_HINT = (
    "set at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, "
    "--keep-monthly, --keep-yearly or --keep-within (or the retention.* config keys), "
    "e.g. --keep-daily 7 --keep-weekly 4 --keep-monthly 6"
)

# --------------------------------------------------------------------------------- policy


def _check_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidValue(
            f"{name} must be a whole number, got {value!r}",
            f"use a number of backups to keep, or {UNLIMITED} for unlimited",
        )
    if value < UNLIMITED:
        raise errors.InvalidValue(
            f"{name} must not be negative (got {value}); only {UNLIMITED} means unlimited",
            f"use a number of backups to keep, or {UNLIMITED} for unlimited",
        )


def _parse_count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("unlimited", "all"):
            return UNLIMITED
        try:
            value = int(text)
        except ValueError:
            raise errors.InvalidValue(
                f"{name} must be a whole number, got {value!r}",
                f"use a number of backups to keep, or {UNLIMITED} for unlimited",
            ) from None
    _check_count(name, value)
    result: int = value
    return result


@dataclass(frozen=True)
class Policy:
    """A retention policy. None or 0 means the rule is off; -1 means unlimited.

    `keep_within` is a `CalendarDuration` (what `from_mapping` builds, restic semantics) or
    a plain `timedelta`.
    """

    keep_last: int | None = None
    keep_hourly: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    keep_within: CalendarDuration | timedelta | None = None

    def __post_init__(self) -> None:
        for name, _ in COUNT_RULES:
            _check_count(name, getattr(self, name))
        within = self.keep_within
        if within is None:
            return
        if isinstance(within, timedelta):
            if within < timedelta(0):
                raise errors.InvalidValue(
                    f"keep_within must not be negative (got {within})", "use e.g. 7d"
                )
        elif isinstance(within, CalendarDuration):
            if min(within.years, within.months, within.days, within.hours) < 0:
                raise errors.InvalidValue(
                    f"keep_within must not be negative (got {within})", "use e.g. 7d"
                )
        else:
            raise errors.InvalidValue(
                f"keep_within must be a duration, got {within!r}", "use e.g. 7d, 2w or 1y6m"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Policy:
        """Build a policy from config-style keys (`keep_daily`, or `retention.keep_daily`).

        Counts may be ints, digit strings, or "unlimited"/-1; `keep_within` is a duration
        string such as `30d`, `2w`, `1y6m` (m = months, as in restic). None values are unset.
        Unknown keys raise `errors.UnknownConfigKey`, bad values `errors.InvalidValue`.
        """
        fields: dict[str, Any] = {}
        for raw_key, value in values.items():
            key = raw_key.removeprefix("retention.")
            if key not in POLICY_KEYS:
                raise errors.UnknownConfigKey(
                    f"unknown retention key {raw_key!r}",
                    "valid keys: " + ", ".join(POLICY_KEYS),
                )
            if key == "keep_within":
                if value is None:
                    fields[key] = None
                elif isinstance(value, CalendarDuration | timedelta):
                    fields[key] = value
                elif isinstance(value, str):
                    fields[key] = CalendarDuration.parse(value)
                else:
                    raise errors.InvalidValue(
                        f"keep_within must be a duration like 7d, got {value!r}",
                        "use a duration like 7d, 2w, 6m or 1y6m",
                    )
            else:
                fields[key] = _parse_count(key, value)
        return cls(**fields)

    def counts(self) -> list[tuple[str, int, str]]:
        """The active counted rules as (key, count, restic reason), in restic's order."""
        active = []
        for name, reason in COUNT_RULES:
            value: int | None = getattr(self, name)
            if value:  # None and 0 are off, like restic's 0
                active.append((name, value, reason))
        return active

    def within_active(self) -> bool:
        within = self.keep_within
        if within is None:
            return False
        if isinstance(within, timedelta):
            return within > timedelta(0)
        return not within.is_zero()

    def within_label(self) -> str:
        """The keep_within reason, e.g. "within 7d" (restic's `within %v`)."""
        within = self.keep_within
        if within is None:
            return "within 0h"
        if isinstance(within, timedelta):
            return f"within {format_timedelta(within)}"
        return f"within {within}"

    def cutoff(self, now: datetime) -> datetime | None:
        """Backups strictly newer than this are kept by keep_within (counted back from
        `now`); None when it is off."""
        if not self.within_active() or self.keep_within is None:
            return None
        if isinstance(self.keep_within, timedelta):
            try:
                return now - self.keep_within
            except OverflowError:
                return datetime.min.replace(tzinfo=UTC)
        return self.keep_within.subtract_from(now)

    def is_empty(self) -> bool:
        """True when no rule is set (all counts None/0 and no keep_within): it keeps nothing."""
        return not self.counts() and not self.within_active()

    def describe(self) -> str:
        """Human summary, e.g. "7 daily, 4 weekly, within 30d"; "nothing" when empty."""
        parts = []
        for name, value, _ in self.counts():
            label = name.removeprefix("keep_")
            amount = "all" if value == UNLIMITED else str(value)
            parts.append(f"{amount} {label}")
        if self.within_active():
            parts.append(self.within_label())
        return ", ".join(parts) or "nothing"
