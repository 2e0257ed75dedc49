"""Retention planning: restic `forget` semantics, checked against an independent reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.models import RemoteFile
from fermentrack_backup_cli.retention.plan import (
    LEFT_EMPTY,
    LEFT_NO_NAME_TIME,
    REASON_NEWEST,
    Decision,
    Policy,
    clock_evidence,
    ensure_safe,
    kept,
    plan,
    removed,
)
from fermentrack_backup_cli.retention.times import CalendarDuration, backup_time

FOLDER = "/Fermentrack Backups"
BASE = datetime(2024, 1, 1, tzinfo=UTC)
THREE_YEARS_HOURS = 3 * 366 * 24
LATER = BASE + timedelta(hours=THREE_YEARS_HOURS + 1)  # "now" after every generated backup
NON_BACKUPS = ("notes.txt", ".DS_Store", "foo.tar", "2026-01-01T00.00.00.txt", "README")


def fermentrack_name(moment: datetime, sep: str = ".", prefix: str = "") -> str:
    return prefix + moment.strftime(f"%Y-%m-%dT%H{sep}%M{sep}%S") + ".tar.xz"


def remote(name: str, modified: datetime | None = None, size: int = 1234) -> RemoteFile:
    return RemoteFile(name, f"{FOLDER}/{name}", size, None, modified)


def named(moment: datetime) -> RemoteFile:
    return remote(fermentrack_name(moment))


def kept_names(decisions: list[Decision]) -> list[str]:
    return [d.file.name for d in decisions if d.keep]


# ---------------------------------------------------------------- the independent reference

# Buckets as sortable strings, via strftime rather than the module's tuples.
REFERENCE_BUCKETS = {
    "keep_hourly": "%Y-%m-%d %H",
    "keep_daily": "%Y-%m-%d",
    "keep_weekly": "%G-W%V",
    "keep_monthly": "%Y-%m",
    "keep_yearly": "%Y",
}


REFERENCE_REASONS = {
    "keep_hourly": "hourly snapshot",
    "keep_daily": "daily snapshot",
    "keep_weekly": "weekly snapshot",
    "keep_monthly": "monthly snapshot",
    "keep_yearly": "yearly snapshot",
}


@dataclass(frozen=True)
class Calendar:
    """Files at a target, the time each name was made from (None: no time in the name),
    and the moment the plan is made."""

    files: list[RemoteFile]
    times: dict[str, datetime | None]
    now: datetime

    def candidates(self) -> list[tuple[RemoteFile, datetime]]:
        """The rule as the issue states it: non-empty, a time in the name, neither that
        time nor the modified time more than a day after now."""
        horizon = self.now + timedelta(days=1)
        found = []
        for f in self.files:
            t = self.times.get(f.name)
            if t is None or f.size <= 0 or t > horizon:
                continue
            if f.modified is not None and f.modified > horizon:
                continue
            found.append((f, t))
        return found

    def left_alone(self) -> set[str]:
        archive_like = {f.name for f in self.files if f.name in self.times}
        return archive_like - {f.name for f, _ in self.candidates()}


def reference_picks(calendar: Calendar, policy: Policy) -> dict[str, set[str]]:
    """Per reason, the names it keeps: group by bucket, take the N newest buckets, keep the
    newest file of each. keep_last: the N newest. within: newer than now - duration."""
    timed = [(t, f.name) for f, t in calendar.candidates()]
    picks: dict[str, set[str]] = {}
    if not timed:
        return picks
    newest_first = sorted(timed, reverse=True)  # newest, ties by name descending
    picks["newest"] = {newest_first[0][1]}
    if policy.keep_last:
        n = len(newest_first) if policy.keep_last == -1 else policy.keep_last
        picks["last snapshot"] = {name for _, name in newest_first[:n]}
    for rule, fmt in REFERENCE_BUCKETS.items():
        count = getattr(policy, rule)
        if not count:
            continue
        groups: dict[str, list[tuple[datetime, str]]] = {}
        for t, name in timed:
            groups.setdefault(t.strftime(fmt), []).append((t, name))
        chosen = sorted(groups, reverse=True)
        if count != -1:
            chosen = chosen[:count]
        picks[REFERENCE_REASONS[rule]] = {max(groups[bucket])[1] for bucket in chosen}
    if policy.keep_within is not None:
        within = policy.keep_within
        if isinstance(within, CalendarDuration):  # the generator only makes days and hours
            assert within.years == within.months == 0
            within = timedelta(days=within.days, hours=within.hours)
        if within > timedelta(0):
            cutoff = calendar.now - within
            picks["within"] = {name for t, name in timed if t > cutoff}
    return picks


def reference_keep(calendar: Calendar, policy: Policy) -> set[str]:
    return set().union(*reference_picks(calendar, policy).values())


# ------------------------------------------------------------------------------ generators

counts = st.one_of(st.none(), st.just(0), st.just(-1), st.integers(1, 40))
withins = st.one_of(
    st.none(),
    st.builds(lambda h: timedelta(hours=h), st.integers(0, 24 * 400)),
    st.builds(CalendarDuration, days=st.integers(0, 400), hours=st.integers(0, 48)),
)
policies = st.builds(
    Policy,
    keep_last=counts,
    keep_hourly=counts,
    keep_daily=counts,
    keep_weekly=counts,
    keep_monthly=counts,
    keep_yearly=counts,
    keep_within=withins,
).filter(lambda p: not p.is_empty())

# Hours since BASE: clustered enough that hours, days and weeks collide, spread over 3 years.
moments = st.builds(
    lambda h, m: BASE + timedelta(hours=h, minutes=m),
    st.integers(0, THREE_YEARS_HOURS),
    st.sampled_from([0, 0, 0, 15, 59]),
)


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    """Named backups (some empty, some with a modified time far ahead), far-future names,
    archives without a time in their name, junk; `now` anywhere in the range, so many
    named backups are in its future too."""
    now = draw(moments)
    times: dict[str, datetime | None] = {}
    files: list[RemoteFile] = []

    def add(name: str, moment: datetime | None, size: int = 1234, **kw: datetime) -> None:
        times[name] = moment
        files.append(RemoteFile(name, f"{FOLDER}/{name}", size, None, kw.get("modified")))

    for t in draw(st.lists(moments, min_size=1, max_size=60, unique=True)):
        add(fermentrack_name(t), t)
    for t in draw(st.lists(moments, max_size=4, unique=True)):
        add(fermentrack_name(t, prefix="empty_"), t, size=0)
    for t in draw(st.lists(moments, max_size=3, unique=True)):
        ahead = now + timedelta(days=1, hours=1) + (t - BASE)
        add(fermentrack_name(ahead, prefix="future_"), ahead)
    for t in draw(st.lists(moments, max_size=3, unique=True)):
        ahead = now + timedelta(days=1, seconds=draw(st.integers(1, 10**7)))
        add(fermentrack_name(t, prefix="mtime_"), t, modified=ahead)
    for i, t in enumerate(draw(st.lists(moments, max_size=6))):
        add(f"manual-{i}.tar.gz", None, modified=t)
    for i in range(draw(st.integers(0, 2))):
        add(f"mystery-{i}.zip", None)
    for name in draw(st.sets(st.sampled_from(NON_BACKUPS))):
        files.append(remote(name, modified=BASE))
    return Calendar(draw(st.permutations(files)), times, now)


# ------------------------------------------------------------------------------ properties


@settings(max_examples=150, deadline=None)
@given(calendars(), policies)
def test_plan_matches_the_reference(calendar: Calendar, policy: Policy) -> None:
    decisions = plan(calendar.files, policy, now=calendar.now)
    candidates = [d for d in decisions if not d.left_alone]
    assert set(kept_names(candidates)) == reference_keep(calendar, policy)
    assert all(d.keep == bool(d.reasons) for d in decisions)
    # and rule by rule: every reason names exactly the files the reference picks for it
    expected = reference_picks(calendar, policy)
    for reason, names in expected.items():
        if reason == "newest":
            continue  # every active rule also picks the newest, unless within leaves it out
        got = {d.file.name for d in decisions if any(r.startswith(reason) for r in d.reasons)}
        assert got == names, reason
    newest = [d for d in decisions if REASON_NEWEST in d.reasons]
    assert all(d is candidates[0] for d in newest)


@settings(max_examples=150, deadline=None)
@given(calendars(), policies)
def test_nothing_future_or_without_a_name_time_or_empty_is_ever_removed(
    calendar: Calendar, policy: Policy
) -> None:
    decisions = plan(calendar.files, policy, now=calendar.now)
    left = {d.file.name for d in decisions if d.left_alone}
    assert left == calendar.left_alone()
    assert all(d.keep for d in decisions if d.left_alone)
    candidates = {f.name for f, _ in calendar.candidates()}
    assert {d.file.name for d in decisions if not d.keep} <= candidates
    horizon = calendar.now + timedelta(days=1)
    for d in decisions:
        if d.left_alone:
            assert d.reasons
        if d.future is not None:
            assert d.left_alone and d.future > horizon
            assert any(r.startswith("future-dated (") for r in d.reasons)


@settings(max_examples=100, deadline=None)
@given(calendars(), policies)
def test_the_newest_backup_that_is_not_future_is_always_kept_and_order_is_newest_first(
    calendar: Calendar, policy: Policy
) -> None:
    decisions = plan(calendar.files, policy, now=calendar.now)
    candidates = [d for d in decisions if not d.left_alone]
    assert decisions[: len(candidates)] == candidates  # left-alone files come last
    if candidates:
        newest = max(calendar.candidates(), key=lambda item: (item[1], item[0].name))
        assert candidates[0].file == newest[0]
        assert candidates[0].keep
    keys = [(d.time, d.file.name) for d in candidates]
    assert keys == sorted(keys, reverse=True)
    kept_times = [d.time for d in candidates if d.keep]
    assert all(d.time <= max(kept_times) for d in candidates if not d.keep)  # type: ignore[operator]


@settings(max_examples=100, deadline=None)
@given(calendars(), policies)
def test_plan_is_idempotent(calendar: Calendar, policy: Policy) -> None:
    first = plan(calendar.files, policy, now=calendar.now)
    survivors = kept(first)
    second = plan(survivors, policy, now=calendar.now)
    assert removed(second) == []
    # each rule picks the same files among the survivors, so even the reasons agree
    assert [(d.file, d.reasons) for d in second] == [(d.file, d.reasons) for d in first if d.keep]


@settings(max_examples=30, deadline=None)
@given(calendars(), policies)
def test_non_backups_are_never_in_the_plan(calendar: Calendar, policy: Policy) -> None:
    names = {d.file.name for d in plan(calendar.files, policy, now=calendar.now)}
    assert not names & set(NON_BACKUPS)
    assert all(n.endswith((".tar.xz", ".tar.gz", ".zip")) for n in names)


@settings(max_examples=50, deadline=None)
@given(st.lists(moments, min_size=1, max_size=40, unique=True))
def test_keep_last_unlimited_keeps_everything(times: list[datetime]) -> None:
    decisions = plan([named(t) for t in times], Policy(keep_last=-1), now=LATER)
    assert len(decisions) == len(times)
    assert all(d.keep and d.reasons == ("last snapshot",) for d in decisions)


# ------------------------------------------------------------------------ backup times


def test_name_time_formats_and_prefix() -> None:
    expected = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)
    for name in (
        "2026-11-27T03.00.00.tar.xz",
        "2026-11-27T03:00:00.tar.xz",
        "2026-11-27T03-00-00.tar.gz",
        "fermentrack_backup_2026-11-27T03.00.00.zip",
        "2026-11-27T03.00.00.tgz",
    ):
        assert backup_time(remote(name)) == expected, name


def test_name_time_beats_modified_time() -> None:
    modified = datetime(2020, 5, 5, 5, 5, tzinfo=UTC)
    file = remote("2026-11-27T03.00.00.tar.xz", modified=modified)
    assert backup_time(file) == datetime(2026, 11, 27, 3, tzinfo=UTC)


def test_unparseable_names_fall_back_to_modified_then_none() -> None:
    modified = datetime(2020, 5, 5, 5, 5, tzinfo=UTC)
    for name in ("backup.tar.xz", "2026-13-40T03.00.00.tar.xz", "2026-11-27T03.00:00.tar.xz"):
        assert backup_time(remote(name, modified=modified)) == modified, name
    assert backup_time(remote("backup.tar.xz")) is None


def test_modified_times_are_utc() -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    assert backup_time(remote("a.zip", modified=naive)) == datetime(2025, 1, 1, 12, tzinfo=UTC)
    plus_two = datetime(2025, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    got = backup_time(remote("a.zip", modified=plus_two))
    assert got == datetime(2024, 12, 31, 23, tzinfo=UTC)
    assert got is not None and got.tzinfo == UTC


# --------------------------------------------------------------------------------- policy


def test_empty_policy_is_refused() -> None:
    files = [named(BASE)]
    for policy in (Policy(), Policy(keep_daily=0, keep_last=0), Policy.from_mapping({})):
        assert policy.is_empty()
        with pytest.raises(errors.UsageError, match="refusing to prune") as caught:
            plan(files, policy)
        assert caught.value.hint is not None and "--keep-daily" in caught.value.hint
    assert Policy(keep_within=timedelta(0)).is_empty()
    assert Policy(keep_within=CalendarDuration()).is_empty()


@pytest.mark.parametrize("bad", [-2, -100, True, 1.5, "7"])
def test_invalid_counts_are_refused(bad: object) -> None:
    with pytest.raises(errors.InvalidValue):
        Policy(keep_daily=bad)  # type: ignore[arg-type]


def test_negative_within_is_refused() -> None:
    with pytest.raises(errors.InvalidValue):
        Policy(keep_within=timedelta(hours=-1))


def test_from_mapping() -> None:
    policy = Policy.from_mapping(
        {
            "retention.keep_daily": 7,
            "keep_weekly": "4",
            "keep_monthly": "unlimited",
            "keep_yearly": None,
            "keep_within": "1y6m",
        }
    )
    assert policy == Policy(
        keep_daily=7,
        keep_weekly=4,
        keep_monthly=-1,
        keep_within=CalendarDuration(years=1, months=6),
    )
    assert Policy.from_mapping({"keep_within": "2w"}).keep_within == CalendarDuration(days=14)
    assert Policy.from_mapping({"keep_within": "1d12h"}).keep_within == CalendarDuration(
        days=1, hours=12
    )
    assert Policy.from_mapping({}).is_empty()
    assert policy.describe() == "7 daily, 4 weekly, all monthly, within 1y6m"


@pytest.mark.parametrize(
    "mapping",
    [
        {"keep_daily": -3},
        {"keep_daily": "seven"},
        {"keep_daily": True},
        {"keep_within": "30x"},
        {"keep_within": "d"},
        {"keep_within": 30},
    ],
)
def test_from_mapping_rejects_bad_values(mapping: dict[str, object]) -> None:
    with pytest.raises(errors.InvalidValue):
        Policy.from_mapping(mapping)


def test_from_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(errors.UnknownConfigKey):
        Policy.from_mapping({"keep_dayly": 7})


# ------------------------------------------------------------------------------- examples


def nightly(first: date, last: date) -> list[RemoteFile]:
    days = (last - first).days + 1
    return [
        named(datetime(first.year, first.month, first.day, 3, tzinfo=UTC) + timedelta(days=i))
        for i in range(days)
    ]


def test_a_year_of_nightly_backups() -> None:
    files = nightly(date(2025, 1, 1), date(2025, 12, 31))
    now = datetime(2026, 1, 1, 3, 15, tzinfo=UTC)
    decisions = plan(files, Policy(keep_daily=7, keep_weekly=4, keep_monthly=6), now=now)
    assert len(decisions) == 365
    by_name = {d.file.name: d for d in decisions}
    expected = {
        # 7 daily: Dec 25..31
        **{f"2025-12-{day:02d}T03.00.00.tar.xz": "daily snapshot" for day in range(25, 32)},
        # 4 weekly: 2026-W01 (Wed Dec 31, also daily), W52 (Sun Dec 28, also daily), W51, W50
        "2025-12-21T03.00.00.tar.xz": "weekly snapshot",
        "2025-12-14T03.00.00.tar.xz": "weekly snapshot",
        # 6 monthly: Dec (Dec 31, also daily), Nov..Jul month ends
        "2025-11-30T03.00.00.tar.xz": "monthly snapshot",
        "2025-10-31T03.00.00.tar.xz": "monthly snapshot",
        "2025-09-30T03.00.00.tar.xz": "monthly snapshot",
        "2025-08-31T03.00.00.tar.xz": "monthly snapshot",
        "2025-07-31T03.00.00.tar.xz": "monthly snapshot",
    }
    assert set(kept_names(decisions)) == set(expected)
    assert len(kept_names(decisions)) == 14
    for name, reason in expected.items():
        assert reason in by_name[name].reasons
    assert by_name["2025-12-31T03.00.00.tar.xz"].reasons == (
        "daily snapshot",
        "weekly snapshot",
        "monthly snapshot",
    )
    assert by_name["2025-12-28T03.00.00.tar.xz"].reasons == ("daily snapshot", "weekly snapshot")


def test_small_case_with_explicit_names_and_reasons() -> None:
    # two backups a day (03:00 and 15:00) for four days, plus junk and an undated archive
    files = [
        named(datetime(2026, 3, day, hour, tzinfo=UTC)) for day in (1, 2, 3, 4) for hour in (3, 15)
    ]
    files += [remote("notes.txt"), remote(".DS_Store"), remote("foo.tar"), remote("old.zip")]
    decisions = plan(files, Policy(keep_last=2, keep_daily=3), now=datetime(2026, 3, 5, tzinfo=UTC))
    assert [(d.file.name, d.keep, d.reasons) for d in decisions] == [
        ("2026-03-04T15.00.00.tar.xz", True, ("last snapshot", "daily snapshot")),
        ("2026-03-04T03.00.00.tar.xz", True, ("last snapshot",)),
        ("2026-03-03T15.00.00.tar.xz", True, ("daily snapshot",)),
        ("2026-03-03T03.00.00.tar.xz", False, ()),
        ("2026-03-02T15.00.00.tar.xz", True, ("daily snapshot",)),
        ("2026-03-02T03.00.00.tar.xz", False, ()),
        ("2026-03-01T15.00.00.tar.xz", False, ()),
        ("2026-03-01T03.00.00.tar.xz", False, ()),
        ("old.zip", True, ("no backup time in its name",)),
    ]
    assert [d.left_alone for d in decisions] == [False] * 8 + [True]


def test_buckets_count_back_from_the_newest_backup_not_from_today() -> None:
    # backups every third day: 7 daily reaches back 19 days, not 7
    files = [named(datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=3 * i)) for i in range(20)]
    decisions = plan(files, Policy(keep_daily=7), now=datetime(2024, 1, 1, tzinfo=UTC))
    assert kept_names(decisions) == [d.file.name for d in decisions[:7]]


def test_keep_within_counts_back_from_now_not_from_the_newest_backup() -> None:
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    files = [named(now - timedelta(days=d)) for d in range(3, 40)]
    decisions = plan(files, Policy.from_mapping({"keep_within": "7d"}), now=now)
    # strictly newer than now - 7d, as restic's Time.After: days 3..6 back
    assert kept_names(decisions) == [f.name for f in files[:4]]
    assert all(d.reasons == ("within 7d",) for d in decisions if d.keep)
    # calendar months, normalised like Go's AddDate: Mar 31 - 1 month = "Feb 31" = Mar 3
    decisions = plan(files, Policy.from_mapping({"keep_within": "1m"}), now=now)
    cutoff = datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert {d.file.name for d in decisions if d.keep} == {
        f.name
        for f in files
        if backup_time(f) > cutoff  # type: ignore[operator]
    }
    assert len(kept_names(decisions)) == 25  # Mar 4..28; Mar 3 12:00 is the cutoff itself


def test_keep_within_alone_still_keeps_the_newest_when_every_backup_is_older() -> None:
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    files = [named(now - timedelta(days=d)) for d in (40, 50, 60)]
    decisions = plan(files, Policy(keep_within=timedelta(days=30)), now=now)
    assert [(d.keep, d.reasons) for d in decisions] == [
        (True, ("newest",)),
        (False, ()),
        (False, ()),
    ]


def test_keep_within_timedelta() -> None:
    now = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    files = [named(datetime(2026, 1, 1, tzinfo=UTC)), named(datetime(2025, 1, 1, tzinfo=UTC))]
    decisions = plan(files, Policy(keep_within=timedelta(seconds=2)), now=now)
    assert [(d.keep, d.reasons) for d in decisions] == [(True, ("within 2s",)), (False, ())]


def test_ties_are_broken_by_name_descending() -> None:
    moment = datetime(2026, 1, 1, 3, tzinfo=UTC)
    files = [remote(fermentrack_name(moment, prefix=p)) for p in ("a_", "b_")]
    decisions = plan(files, Policy(keep_last=1), now=LATER)
    assert [(d.file.name[0], d.keep) for d in decisions] == [("b", True), ("a", False)]


def test_no_backups_is_an_empty_plan() -> None:
    assert plan([remote("notes.txt")], Policy(keep_daily=7), now=LATER) == []


def test_separators_and_prefix_sort_together() -> None:
    t = datetime(2026, 1, 1, 3, tzinfo=UTC)
    files = [
        remote(fermentrack_name(t, ":")),
        remote(fermentrack_name(t + timedelta(hours=1), "-", "fermentrack_backup_")),
    ]
    decisions = plan(files, Policy(keep_last=1), now=LATER)
    assert decisions[0].file.name.startswith("fermentrack_backup_")
    assert decisions[0].time == t + timedelta(hours=1)


def test_iso_weeks_across_the_new_year() -> None:
    # Mon 2024-12-30 is in ISO week 2025-W01, Sun 2024-12-29 in 2024-W52
    files = [named(datetime(2025, 1, 1, tzinfo=UTC))]
    files += [named(datetime(2024, 12, day, tzinfo=UTC)) for day in (28, 29, 30)]
    decisions = plan(files, Policy(keep_weekly=2), now=LATER)
    assert kept_names(decisions) == ["2025-01-01T00.00.00.tar.xz", "2024-12-29T00.00.00.tar.xz"]


# ---------------------------------------------------------------- files that cannot be trusted

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SEVEN_NIGHTS = [named(NOW.replace(hour=3) - timedelta(days=d)) for d in range(7)]
BOGUS = "2099-01-01T00.00.00.tar.xz"


@pytest.mark.parametrize("size", [0, 1234])
def test_a_far_future_file_among_seven_real_backups_is_left_alone_and_deletes_nothing(
    size: int,
) -> None:
    # the case: `prune --keep-within 30d` kept the 2099 file and removed all seven
    files = [*SEVEN_NIGHTS, remote(BOGUS, size=size)]
    decisions = plan(files, Policy.from_mapping({"keep_within": "30d"}), now=NOW)
    assert [d.file.name for d in decisions if d.keep and not d.left_alone] == [
        f.name for f in SEVEN_NIGHTS
    ]
    assert removed(decisions) == []
    (bogus,) = [d for d in decisions if d.left_alone]
    assert bogus.file.name == BOGUS and bogus.keep
    assert "future-dated (2099-01-01)" in bogus.reasons
    assert (LEFT_EMPTY in bogus.reasons) == (size == 0)
    assert clock_evidence(decisions, NOW) is None  # one bogus file does not blame the clock


def test_a_far_future_file_is_never_the_newest_for_the_counted_rules() -> None:
    files = [*SEVEN_NIGHTS, remote(BOGUS)]
    decisions = plan(files, Policy(keep_last=1), now=NOW)
    assert kept_names([d for d in decisions if not d.left_alone]) == [SEVEN_NIGHTS[0].name]
    assert [d.file.name for d in decisions if d.left_alone] == [BOGUS]


def test_a_backup_modified_in_the_future_is_left_alone() -> None:
    ahead = NOW + timedelta(days=3)
    touched = remote(fermentrack_name(NOW - timedelta(days=30)), modified=ahead)
    decisions = plan([*SEVEN_NIGHTS, touched], Policy(keep_last=1), now=NOW)
    (alone,) = [d for d in decisions if d.left_alone]
    assert alone.file == touched and alone.future == ahead
    assert alone.reasons == ("future-dated (modified 2026-12-04)",)


def test_a_day_of_clock_skew_is_tolerated_and_more_is_future() -> None:
    near = named(NOW + timedelta(hours=23))
    far = named(NOW + timedelta(hours=25))
    decisions = plan([near, far, *SEVEN_NIGHTS], Policy(keep_last=1), now=NOW)
    assert decisions[0].file == near and decisions[0].keep and not decisions[0].left_alone
    assert [d.file for d in decisions if d.left_alone] == [far]


def test_empty_and_nameless_archives_are_left_alone_and_never_the_newest() -> None:
    empty = remote(fermentrack_name(NOW), size=0)
    nameless = remote("manual-backup.tar.xz", modified=NOW)
    decisions = plan([empty, nameless, *SEVEN_NIGHTS], Policy(keep_last=1), now=NOW)
    assert decisions[0].file == SEVEN_NIGHTS[0]
    assert removed(decisions) == SEVEN_NIGHTS[1:]
    alone = {d.file.name: d.reasons for d in decisions if d.left_alone}
    assert alone == {empty.name: (LEFT_EMPTY,), nameless.name: (LEFT_NO_NAME_TIME,)}


def test_plan_counts_from_the_current_time_by_default() -> None:
    now = datetime.now(UTC)
    recent = named((now - timedelta(days=2)).replace(microsecond=0))
    old = named((now - timedelta(days=40)).replace(microsecond=0))
    tomorrow_plus = named((now + timedelta(days=2)).replace(microsecond=0))
    decisions = plan([recent, old, tomorrow_plus], Policy(keep_within=timedelta(days=30)))
    assert [(d.file, d.keep, d.left_alone) for d in decisions] == [
        (recent, True, False),
        (old, False, False),
        (tomorrow_plus, True, True),
    ]


def test_a_clock_reset_to_1970_puts_every_backup_in_the_future_and_is_named() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    decisions = plan(SEVEN_NIGHTS, Policy(keep_daily=7), now=epoch)
    assert all(d.left_alone and d.future is not None for d in decisions)
    evidence = clock_evidence(decisions, epoch)
    assert evidence is not None
    assert evidence.startswith("the system clock says 1970-01-01T00:00:00Z but 7 of the 7")
    assert SEVEN_NIGHTS[0].name.startswith(evidence.rsplit("the newest ", 1)[1][:10])


def test_the_clock_is_blamed_only_when_future_backups_outnumber_the_others() -> None:
    ahead = [named(NOW + timedelta(days=10 + d)) for d in range(4)]
    empty_ahead = [remote(fermentrack_name(NOW + timedelta(days=50 + d)), size=0) for d in range(9)]
    four_four = plan([*ahead, *SEVEN_NIGHTS[:4], *empty_ahead], Policy(keep_last=1), now=NOW)
    assert clock_evidence(four_four, NOW) is None  # a tie, and empty files do not count
    five_four = plan(
        [*ahead, named(NOW + timedelta(days=20)), *SEVEN_NIGHTS[:4]], Policy(keep_last=1), now=NOW
    )
    assert clock_evidence(five_four, NOW) is not None


def test_a_plan_deleting_a_backup_newer_than_all_it_keeps_is_refused() -> None:
    newer, older = SEVEN_NIGHTS[0], SEVEN_NIGHTS[1]
    t_newer, t_older = backup_time(newer), backup_time(older)
    bad = [Decision(newer, t_newer, False), Decision(older, t_older, True, ("daily snapshot",))]
    with pytest.raises(errors.BackupError, match="newer than every backup it keeps") as caught:
        ensure_safe(bad)
    assert caught.value.code == "prune_unsafe"
    with pytest.raises(errors.BackupError):  # deleting everything is the same mistake
        ensure_safe([Decision(newer, t_newer, False)])
    good = [Decision(newer, t_newer, True, ("daily snapshot",)), Decision(older, t_older, False)]
    ensure_safe(good)
    ensure_safe([Decision(newer, t_newer, True, ("x",), left_alone=True)])
