"""Which backups a retention policy keeps: restic `forget` semantics, pure and I/O free.

The counted rules mirror restic's `ApplyPolicy` (internal/restic/snapshot_policy.go):

* backups are ordered newest first;
* `keep_last N` keeps the N newest backups;
* `keep_hourly/daily/weekly/monthly/yearly N` walk newest -> oldest and keep a backup when
  its bucket (hour, day, ISO week, month, year, all in UTC) differs from the bucket of the
  last backup *that rule* kept, while the rule still has count left; -1 means unlimited.
  Buckets are therefore counted back from the newest backup, not from today: a target that
  stopped receiving backups a month ago still keeps its last 7 daily backups;
* a backup may be kept by several rules; every reason is listed.

Where restic trusts its snapshots' times, a folder of files cannot be trusted that far, so:

* only non-empty files whose *names* carry a backup time (`backup_time.name_time`) are
  candidates. A file without one, or an empty one, is "left alone": reported, never
  deleted, never the newest. Names that are not archives at all (`notes.txt`) are left
  out of the plan entirely, so callers never touch them;
* a candidate dated (by name or modified time) more than `FUTURE_SLACK` after `now` is
  "future-dated" and left alone too: it is never the newest, never anchors a rule;
* `keep_within D` keeps every candidate strictly newer than `now - D` (restic counts from
  the newest snapshot; counting from now means one bogus far-future file cannot make
  every real backup look old), D being a calendar duration (`1y6m` subtracts 1 year and 6
  months like Go's `AddDate`);
* the newest remaining candidate is always kept, and a plan that would delete a backup
  newer than every backup it keeps is refused (`ensure_safe`), whatever the rules said;
* `clock_evidence` says when the future-dated candidates outnumber the others: then the
  clock, not the files, is wrong, and the caller must not prune at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import errors
from ..models import RemoteFile, is_archive_name, iso, utcnow
from .policy import EMPTY_POLICY_HINT, Policy
from .times import as_utc, name_time

REASON_NEWEST = "newest"
# Why a file is left alone (never a candidate, never deleted).
LEFT_NO_NAME_TIME = "no backup time in its name"
LEFT_EMPTY = "empty (0 bytes)"
# A backup dated more than this after now cannot be real: the clock that named it, or
# ours, is wrong. A day covers time zones and a Pi whose clock is a few hours off.
FUTURE_SLACK = timedelta(days=1)


# ----------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Decision:
    """What the policy decided for one backup file.

    A left-alone file (`left_alone`) is not a candidate: `keep` is True (it is never
    deleted) and `reasons` say why it was left alone. `future` is the time more than a day
    ahead (from the name, else the modified time) when the file is future-dated.
    """

    file: RemoteFile
    time: datetime | None
    keep: bool
    reasons: tuple[str, ...] = ()
    left_alone: bool = False
    future: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.file.name,
            "remote_path": self.file.path,
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


def _left_alone(file: RemoteFile, moment: datetime | None, horizon: datetime) -> Decision | None:
    """The decision for a file that is not a candidate, or None when it is one."""
    reasons = [] if moment is not None else [LEFT_NO_NAME_TIME]
    if file.size <= 0:
        reasons.append(LEFT_EMPTY)
    future = None
    modified = as_utc(file.modified) if file.modified is not None else None
    if moment is not None and moment > horizon:
        future = moment
        reasons.append(f"future-dated ({moment:%Y-%m-%d})")
    elif modified is not None and modified > horizon:
        future = modified
        reasons.append(f"future-dated (modified {modified:%Y-%m-%d})")
    if not reasons:
        return None
    return Decision(file, moment, True, tuple(reasons), left_alone=True, future=future)


def left_alone_reasons(file: RemoteFile, *, now: datetime | None = None) -> tuple[str, ...]:
    """Why prune would leave `file` alone (empty, future-dated, no time in its name), or ()
    for a real backup."""
    horizon = (utcnow() if now is None else as_utc(now)) + FUTURE_SLACK
    alone = _left_alone(file, name_time(file.name), horizon)
    return alone.reasons if alone is not None else ()


def looks_real(file: RemoteFile, *, now: datetime | None = None) -> bool:
    """Not empty and not future-dated by name or modified time (a name time is not needed)."""
    horizon = (utcnow() if now is None else as_utc(now)) + FUTURE_SLACK
    alone = _left_alone(file, name_time(file.name), horizon)
    return alone is None or alone.reasons == (LEFT_NO_NAME_TIME,)


def candidates(files: Iterable[RemoteFile], *, now: datetime | None = None) -> list[RemoteFile]:
    """The real backups among `files`, newest first: what `plan` counts as candidates
    (non-empty, a backup time in the name, not future-dated). `remote ls` ordering,
    `verify --remote --latest N` and `status`'s newest backup use the same rule, so a
    bogus far-future file is never "the newest" anywhere."""
    horizon = (utcnow() if now is None else as_utc(now)) + FUTURE_SLACK
    found: list[tuple[RemoteFile, datetime]] = []
    for file in files:
        moment = name_time(file.name) if is_archive_name(file.name) else None
        if moment is not None and _left_alone(file, moment, horizon) is None:
            found.append((file, moment))
    found.sort(key=lambda item: (item[1], item[0].name, item[0].path), reverse=True)
    return [file for file, _ in found]


def _left_sort_key(decision: Decision) -> tuple[datetime, str, str]:
    moment = decision.time or datetime.min.replace(tzinfo=UTC)
    return (moment, decision.file.name, decision.file.path)


def plan(
    files: Iterable[RemoteFile], policy: Policy, *, now: datetime | None = None
) -> list[Decision]:
    """Decide keep/remove for every backup among `files`: candidates newest first, then
    the files left alone (newest first by name time, nameless last).

    Candidates are non-empty files whose names carry a backup time no more than
    `FUTURE_SLACK` after `now` (default: the current time); ties are broken by name (then
    path) descending. The newest candidate is always kept ("newest" if no rule kept it).
    Raises `errors.UsageError` for an empty policy, and refuses (`ensure_safe`) a plan that
    would delete a backup newer than every backup it keeps.
    """
    if policy.is_empty():
        raise errors.UsageError(
            "refusing to prune: the policy keeps nothing (no keep rule is set)",
            EMPTY_POLICY_HINT,
        )
    now = utcnow() if now is None else as_utc(now)
    horizon = now + FUTURE_SLACK
    candidates: list[tuple[RemoteFile, datetime]] = []
    left: list[Decision] = []
    for file in files:
        if not is_archive_name(file.name):
            continue
        moment = name_time(file.name)
        alone = _left_alone(file, moment, horizon)
        if alone is not None:
            left.append(alone)
        elif moment is not None:
            candidates.append((file, moment))
    candidates.sort(key=lambda item: (item[1], item[0].name, item[0].path), reverse=True)
    decisions = _walk(candidates, policy, now)
    ensure_safe(decisions)
    return decisions + sorted(left, key=_left_sort_key, reverse=True)


def _walk(
    candidates: list[tuple[RemoteFile, datetime]], policy: Policy, now: datetime
) -> list[Decision]:
    """restic's walk over the candidates, newest first: per rule, a remaining count and
    the last bucket that rule kept; keep_within against `now`."""
    cutoff = policy.cutoff(now)
    within_reason = policy.within_label()
    remaining = {name: count for name, count, _ in policy.counts()}
    last_bucket: dict[str, object] = {}
    decisions: list[Decision] = []
    for index, (file, moment) in enumerate(candidates):
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


def ensure_safe(decisions: Sequence[Decision]) -> None:
    """Refuse a plan that would delete a backup newer than every backup it keeps.

    The rules above cannot produce one (the newest candidate is always kept); this is the
    belt to those braces, so a future change to the rules cannot delete the newest backups.
    """
    kept_times = [d.time for d in decisions if d.keep and not d.left_alone and d.time]
    newest_kept = max(kept_times, default=None)
    for d in decisions:
        if d.keep or d.left_alone:
            continue
        if d.time is None or newest_kept is None or d.time > newest_kept:
            raise errors.BackupError(
                f"refusing to prune: the plan would delete {d.file.name}, "
                "which is newer than every backup it keeps; nothing was deleted",
                "this is a bug in fermentrack-backup: please report it with the output of "
                "`fermentrack-backup remote ls`",
                code="prune_unsafe",
            )


def clock_evidence(decisions: Sequence[Decision], now: datetime) -> str | None:
    """Why the clock looks wrong, or None: when the future-dated backups (non-empty, with
    a time in their name) outnumber the candidates, the clock is behind, not the files
    ahead (a Pi whose clock reset to 1970 sees every backup in the future)."""
    future = [d.future for d in decisions if d.future and d.time and d.file.size > 0]
    others = sum(1 for d in decisions if not d.left_alone)
    if not future or len(future) <= others:
        return None
    return (
        f"the system clock says {iso(as_utc(now))} but {len(future)} of the "
        f"{len(future) + others} backups are dated more than a day after it "
        f"(the newest {iso(max(future))})"
    )


def kept(decisions: Iterable[Decision]) -> list[RemoteFile]:
    """Every file the plan does not delete: the kept backups and those left alone."""
    return [d.file for d in decisions if d.keep]


def removed(decisions: Iterable[Decision]) -> list[RemoteFile]:
    return [d.file for d in decisions if not d.keep]
