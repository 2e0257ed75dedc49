"""Retention planning: restic `forget` semantics, checked against an independent reference."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fermentrack_backup_cli import errors
from fermentrack_backup_cli.backup_time import CalendarDuration, backup_time
from fermentrack_backup_cli.models import RemoteFile
from fermentrack_backup_cli.retention import Decision, Policy, kept, plan, removed

FOLDER = "/Fermentrack Backups"
BASE = datetime(2024, 1, 1, tzinfo=UTC)
THREE_YEARS_HOURS = 3 * 366 * 24
NON_BACKUPS = ("notes.txt", ".DS_Store", "foo.tar", "2026-01-01T00.00.00.txt", "README")


def fermentrack_name(moment: datetime, sep: str = ".", prefix: str = "") -> str:
    return prefix + moment.strftime(f"%Y-%m-%dT%H{sep}%M{sep}%S") + ".tar.xz"


def remote(name: str, modified: datetime | None = None) -> RemoteFile:
    return RemoteFile(name, f"{FOLDER}/{name}", 1234, None, modified)


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


def reference_picks(
    items: list[tuple[RemoteFile, datetime | None]], policy: Policy
) -> dict[str, set[str]]:
    """Per reason, the names it keeps: group by bucket, take the N newest buckets, keep the
    newest file of each. keep_last: the N newest. within: newer than newest - duration."""
    timed = [(t, f.name) for f, t in items if t is not None]
    picks: dict[str, set[str]] = {"no time known": {f.name for f, t in items if t is None}}
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
            cutoff = newest_first[0][0] - within
            picks["within"] = {name for t, name in timed if t > cutoff}
    return picks


def reference_keep(items: list[tuple[RemoteFile, datetime | None]], policy: Policy) -> set[str]:
    return set().union(*reference_picks(items, policy).values())


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
def calendars(draw: st.DrawFn) -> list[RemoteFile]:
    """Named backups, a few dated only by modified time (ties possible), undated ones, junk."""
    times = draw(st.lists(moments, min_size=1, max_size=60, unique=True))
    files = [named(t) for t in times]
    for i, t in enumerate(draw(st.lists(moments, max_size=6))):
        files.append(remote(f"manual-{i}.tar.gz", modified=t))
    for i in range(draw(st.integers(0, 2))):
        files.append(remote(f"mystery-{i}.zip"))
    files.extend(
        remote(name, modified=BASE) for name in draw(st.sets(st.sampled_from(NON_BACKUPS)))
    )
    return draw(st.permutations(files))


# ------------------------------------------------------------------------------ properties


@settings(max_examples=120, deadline=None)
@given(calendars(), policies)
def test_plan_matches_the_reference(files: list[RemoteFile], policy: Policy) -> None:
    decisions = plan(files, policy)
    candidates = [(f, backup_time(f)) for f in files if not f.name.startswith(NON_BACKUPS)]
    assert set(kept_names(decisions)) == reference_keep(candidates, policy)
    assert all(d.keep == bool(d.reasons) for d in decisions)
    # and rule by rule: every reason names exactly the files the reference picks for it
    expected = reference_picks(candidates, policy)
    for reason, names in expected.items():
        if reason == "newest":
            continue  # every active rule also picks the newest, so "newest" never shows up
        got = {d.file.name for d in decisions if any(r.startswith(reason) for r in d.reasons)}
        assert got == names, reason
    assert not any("newest" in d.reasons for d in decisions)


@settings(max_examples=60, deadline=None)
@given(calendars(), policies)
def test_newest_is_always_kept_and_order_is_newest_first(
    files: list[RemoteFile], policy: Policy
) -> None:
    decisions = plan(files, policy)
    timed = [d for d in decisions if d.time is not None]
    assert timed[0].keep
    keys = [(d.time, d.file.name) for d in timed]
    assert keys == sorted(keys, reverse=True)
    # undated backups come last and are never removed
    undated = decisions[len(timed) :]
    assert all(d.time is None and d.keep and d.reasons == ("no time known",) for d in undated)


@settings(max_examples=100, deadline=None)
@given(calendars(), policies)
def test_plan_is_idempotent(files: list[RemoteFile], policy: Policy) -> None:
    first = plan(files, policy)
    survivors = kept(first)
    second = plan(survivors, policy)
    assert removed(second) == []
    # each rule picks the same files among the survivors, so even the reasons agree
    assert [(d.file, d.reasons) for d in second] == [(d.file, d.reasons) for d in first if d.keep]


@settings(max_examples=30, deadline=None)
@given(calendars(), policies)
def test_non_backups_are_never_in_the_plan(files: list[RemoteFile], policy: Policy) -> None:
    names = {d.file.name for d in plan(files, policy)}
    assert not names & set(NON_BACKUPS)
    assert all(n.endswith((".tar.xz", ".tar.gz", ".zip")) for n in names)


@settings(max_examples=50, deadline=None)
@given(st.lists(moments, min_size=1, max_size=40, unique=True))
def test_keep_last_unlimited_keeps_everything(times: list[datetime]) -> None:
    decisions = plan([named(t) for t in times], Policy(keep_last=-1))
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
    decisions = plan(files, Policy(keep_daily=7, keep_weekly=4, keep_monthly=6))
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
    decisions = plan(files, Policy(keep_last=2, keep_daily=3))
    assert [(d.file.name, d.keep, d.reasons) for d in decisions] == [
        ("2026-03-04T15.00.00.tar.xz", True, ("last snapshot", "daily snapshot")),
        ("2026-03-04T03.00.00.tar.xz", True, ("last snapshot",)),
        ("2026-03-03T15.00.00.tar.xz", True, ("daily snapshot",)),
        ("2026-03-03T03.00.00.tar.xz", False, ()),
        ("2026-03-02T15.00.00.tar.xz", True, ("daily snapshot",)),
        ("2026-03-02T03.00.00.tar.xz", False, ()),
        ("2026-03-01T15.00.00.tar.xz", False, ()),
        ("2026-03-01T03.00.00.tar.xz", False, ()),
        ("old.zip", True, ("no time known",)),
    ]


def test_buckets_count_back_from_the_newest_backup_not_from_today() -> None:
    # backups every third day: 7 daily reaches back 19 days, not 7
    files = [named(datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=3 * i)) for i in range(20)]
    decisions = plan(files, Policy(keep_daily=7))
    assert kept_names(decisions) == [d.file.name for d in decisions[:7]]


def test_keep_within_is_relative_to_the_newest_backup() -> None:
    newest = datetime(2026, 3, 31, 12, tzinfo=UTC)
    files = [named(newest - timedelta(days=d)) for d in range(0, 40)]
    decisions = plan(files, Policy.from_mapping({"keep_within": "7d"}))
    # strictly newer than newest - 7d, as restic's Time.After
    assert len(kept_names(decisions)) == 7
    assert all(d.reasons == ("within 7d",) for d in decisions if d.keep)
    # calendar months, normalised like Go's AddDate: Mar 31 - 1 month = "Feb 31" = Mar 3
    decisions = plan(files, Policy.from_mapping({"keep_within": "1m"}))
    cutoff = datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert {d.file.name for d in decisions if d.keep} == {
        f.name
        for f in files
        if backup_time(f) > cutoff  # type: ignore[operator]
    }
    assert len(kept_names(decisions)) == 28  # Mar 4..31; Mar 3 12:00 is the cutoff itself


def test_keep_within_timedelta() -> None:
    files = [named(datetime(2026, 1, 1, tzinfo=UTC)), named(datetime(2025, 1, 1, tzinfo=UTC))]
    decisions = plan(files, Policy(keep_within=timedelta(seconds=1)))
    assert [(d.keep, d.reasons) for d in decisions] == [(True, ("within 1s",)), (False, ())]


def test_ties_are_broken_by_name_descending() -> None:
    moment = datetime(2026, 1, 1, 3, tzinfo=UTC)
    files = [remote("a.tar.xz", modified=moment), remote("b.tar.xz", modified=moment)]
    decisions = plan(files, Policy(keep_last=1))
    assert [(d.file.name, d.keep) for d in decisions] == [("b.tar.xz", True), ("a.tar.xz", False)]


def test_no_backups_is_an_empty_plan() -> None:
    assert plan([remote("notes.txt")], Policy(keep_daily=7)) == []


def test_separators_and_prefix_sort_together() -> None:
    t = datetime(2026, 1, 1, 3, tzinfo=UTC)
    files = [
        remote(fermentrack_name(t, ":")),
        remote(fermentrack_name(t + timedelta(hours=1), "-", "fermentrack_backup_")),
    ]
    decisions = plan(files, Policy(keep_last=1))
    assert decisions[0].file.name.startswith("fermentrack_backup_")
    assert decisions[0].time == t + timedelta(hours=1)


def test_iso_weeks_across_the_new_year() -> None:
    # Mon 2024-12-30 is in ISO week 2025-W01, Sun 2024-12-29 in 2024-W52
    files = [named(datetime(2025, 1, 1, tzinfo=UTC))]
    files += [named(datetime(2024, 12, day, tzinfo=UTC)) for day in (28, 29, 30)]
    decisions = plan(files, Policy(keep_weekly=2))
    assert kept_names(decisions) == ["2025-01-01T00.00.00.tar.xz", "2024-12-29T00.00.00.tar.xz"]
