"""Which backups a retention policy keeps: restic `forget` semantics, pure and I/O free.

The rules mirror restic's `ApplyPolicy` (internal/restic/snapshot_policy.go):

* backups are ordered newest first;
* `keep_last N` keeps the N newest backups;
* `keep_hourly/daily/weekly/monthly/yearly N` walk newest -> oldest and keep a backup when
  its bucket (hour, day, ISO week, month, year, all in UTC) differs from the bucket of the
  last backup *that rule* kept, while the rule still has count left; -1 means unlimited.
  Buckets are therefore counted back from the newest backup, not from today: a target that
  stopped receiving backups a month ago still keeps its last 7 daily backups;
* `keep_within D` keeps every backup strictly newer than (newest backup time - D), D being a
  calendar duration (`1y6m` subtracts 1 year and 6 months like Go's `AddDate`);
* a backup may be kept by several rules; every reason is listed.

On top of restic, for safety: the newest backup is always kept, and a backup whose time
cannot be known is never removed. Files whose names do not look like backup archives
(`models.is_archive_name`) are not candidates: `plan` leaves them out of its output, so
callers never touch them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import errors
from .backup_time import CalendarDuration, as_utc, backup_time, format_timedelta
from .models import RemoteFile, is_archive_name, iso

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
REASON_NEWEST = "newest"
REASON_NO_TIME = "no time known"

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

    def cutoff(self, newest: datetime) -> datetime | None:
        """Backups strictly newer than this are kept by keep_within; None when it is off."""
        if not self.within_active() or self.keep_within is None:
            return None
        if isinstance(self.keep_within, timedelta):
            try:
                return newest - self.keep_within
            except OverflowError:
                return datetime.min.replace(tzinfo=UTC)
        return self.keep_within.subtract_from(newest)

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


# ----------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Decision:
    """What the policy decided for one backup file."""

    file: RemoteFile
    time: datetime | None
    keep: bool
    reasons: tuple[str, ...] = ()

    @property
    def remove(self) -> bool:
        return not self.keep

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.file.name,
            "path": self.file.path,
            "size": self.file.size,
            "time": iso(self.time),
            "keep": self.keep,
            "reasons": list(self.reasons),
        }


def bucket_key(rule: str, moment: datetime) -> tuple[int, ...]:
    """The bucket of `moment` (UTC) for a counted rule other than keep_last."""
    moment = as_utc(moment)
    if rule == "keep_hourly":
        return (moment.year, moment.month, moment.day, moment.hour)
    if rule == "keep_daily":
        return (moment.year, moment.month, moment.day)
    if rule == "keep_weekly":
        iso_year, iso_week, _ = moment.isocalendar()
        return (iso_year, iso_week)
    if rule == "keep_monthly":
        return (moment.year, moment.month)
    if rule == "keep_yearly":
        return (moment.year,)
    raise ValueError(f"no buckets for {rule}")


def _sort_key(item: tuple[RemoteFile, datetime | None]) -> tuple[bool, datetime, str, str]:
    file, moment = item
    # sorted(..., reverse=True): timed files first, newest first, then name/path descending
    return (moment is not None, moment or datetime.min.replace(tzinfo=UTC), file.name, file.path)


def plan(files: Iterable[RemoteFile], policy: Policy) -> list[Decision]:
    """Decide keep/remove for every backup among `files`, newest first.

    Only files whose names look like backup archives are candidates; anything else is left
    out of the result entirely (callers never touch it). Backups are ordered by
    `backup_time`, newest first, ties by name (then path) descending; backups with no known
    time come last and are always kept ("no time known"). The newest backup is always kept
    ("newest" if no rule kept it). Raises `errors.UsageError` for an empty policy.
    """
    if policy.is_empty():
        raise errors.UsageError(
            "refusing to prune: the policy keeps nothing (no keep rule is set)",
            EMPTY_POLICY_HINT,
        )
    candidates = [(f, backup_time(f)) for f in files if is_archive_name(f.name)]
    candidates.sort(key=_sort_key, reverse=True)

    timed = [(f, t) for f, t in candidates if t is not None]
    newest = timed[0][1] if timed else None
    cutoff = policy.cutoff(newest) if newest is not None else None
    within_reason = policy.within_label()

    # restic's walk: per rule, a remaining count and the last bucket that rule kept.
    remaining = {name: count for name, count, _ in policy.counts()}
    last_bucket: dict[str, object] = {}

    decisions: list[Decision] = []
    for index, (file, moment) in enumerate(candidates):
        if moment is None:
            decisions.append(Decision(file, None, True, (REASON_NO_TIME,)))
            continue
        reasons: list[str] = []
        if cutoff is not None and moment > cutoff:
            reasons.append(within_reason)
        for name, _, reason in policy.counts():
            if remaining[name] == 0:
                continue
            bucket: object = index if name == "keep_last" else bucket_key(name, moment)
            if bucket != last_bucket.get(name):
                last_bucket[name] = bucket
                if remaining[name] > 0:
                    remaining[name] -= 1
                reasons.append(reason)
        if index == 0 and not reasons:
            reasons.append(REASON_NEWEST)
        decisions.append(Decision(file, moment, bool(reasons), tuple(reasons)))
    return decisions


def kept(decisions: Iterable[Decision]) -> list[RemoteFile]:
    return [d.file for d in decisions if d.keep]


def removed(decisions: Iterable[Decision]) -> list[RemoteFile]:
    return [d.file for d in decisions if not d.keep]
