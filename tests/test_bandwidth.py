"""The bandwidth limiter on a fake clock: rate, burst, a bucket shared by every request,
timetable boundaries, and rclone's rate syntax."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from fermentrack_backup_cli import bandwidth
from fermentrack_backup_cli.bandwidth import BURST_S, Limiter, parse_rate, parse_schedule

KIB = 1024
MIB = 1024 * KIB
DAY = datetime(2026, 12, 2)


class FakeClock:
    """Monotonic seconds that move only when the limiter sleeps; local time follows."""

    def __init__(self, start: datetime = DAY) -> None:
        self.t = 0.0
        self.start = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)


def limiter(text: str, clock: FakeClock) -> Limiter:
    return Limiter(parse_schedule(text), clock=clock, sleep=clock.sleep, now=clock.now)


def send(limit: Limiter, nbytes: int) -> None:
    """What a request body does: take piece after piece."""
    for _ in bandwidth.pieces(b"\0" * nbytes, limit):
        pass


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


# rate and burst -------------------------------------------------------------------------


def test_sending_at_512k_takes_what_the_rate_says_beyond_the_first_burst() -> None:
    clock = FakeClock()
    limit = limiter("512k", clock)
    send(limit, 10 * MIB)
    burst = 512 * KIB * BURST_S
    expected = (10 * MIB - burst) / (512 * KIB)
    assert clock.t == pytest.approx(expected, rel=1e-9)
    assert limit.taken == 10 * MIB
    assert max(clock.sleeps) <= limit.piece() / (512 * KIB) + 1e-9  # no long single wait


def test_an_idle_limiter_lets_through_no_more_than_one_burst() -> None:
    clock = FakeClock()
    limit = limiter("1M", clock)
    send(limit, MIB)
    clock.t += 3600  # an hour of nothing sent: the bucket stays at half a second
    before = clock.t
    send(limit, 4 * MIB)
    assert clock.t - before == pytest.approx((4 * MIB - MIB * BURST_S) / MIB)


def test_requests_in_flight_at_once_share_one_bucket() -> None:
    """Eight pieces reserved at the same instant (eight upload threads): each waits its
    turn after the previous one, as if one stream had sent them."""
    clock = FakeClock()
    limit = limiter("1M", clock)
    piece = 128 * KIB
    waits = [limit._reserve(piece) for _ in range(8)]
    burst = MIB * BURST_S
    assert waits == pytest.approx([max(0.0, ((i + 1) * piece - burst) / MIB) for i in range(8)])


def test_threads_sending_through_one_limiter_are_granted_every_byte_once() -> None:
    clock = FakeClock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleeps.append(seconds)

    limit = Limiter(parse_schedule("4M"), clock=clock, sleep=sleep, now=clock.now)
    threads = [threading.Thread(target=send, args=(limit, 3 * MIB)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limit.taken == 12 * MIB
    # the clock never moved, so the waits asked for add up to the whole transfer's debt
    piece, burst = limit.piece(), 4 * MIB * BURST_S
    assert 12 * MIB % piece == 0
    debts = [(k * piece - burst) / (4 * MIB) for k in range(1, 12 * MIB // piece + 1)]
    assert limit.waited == pytest.approx(sum(d for d in debts if d > 0))


def test_an_off_limiter_never_waits() -> None:
    clock = FakeClock()
    limit = limiter("08:00,1M 23:00,off", FakeClock(at(23, 30)))
    send(limit, 50 * MIB)
    assert clock.sleeps == [] and limit.waited == 0.0
    assert bandwidth.limiter("off") is None
    assert bandwidth.limiter("00:00,off 12:00,off") is None


def test_a_throttled_body_has_its_length_and_all_its_bytes() -> None:
    clock = FakeClock()
    data = bytes(range(256)) * 4000
    body = bandwidth.ThrottledBody(data, limiter("64k", clock))
    assert len(body) == len(data)
    assert b"".join(bytes(p) for p in body) == data
    assert clock.t > 0


# timetable -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "rate"),
    [
        (at(7, 59, 59), None),  # before the first entry: yesterday's 23:00 still applies
        (at(8, 0), MIB),  # at a boundary the new rate applies
        (at(12, 0), MIB),
        (at(22, 59, 59), MIB),
        (at(23, 0), None),
        (at(0, 0), None),  # past midnight: wraps to the last entry
    ],
)
def test_the_timetable_rate_before_at_and_after_its_boundaries(
    moment: datetime, rate: int | None
) -> None:
    assert parse_schedule("08:00,1M 23:00,off").rate_at(moment) == rate


def test_a_night_window_wraps_past_midnight() -> None:
    schedule = parse_schedule("06:00,off 23:00,256k")  # limited from 23:00 to 06:00
    assert schedule.rate_at(at(2, 30)) == 256 * KIB
    assert schedule.rate_at(at(23, 15)) == 256 * KIB
    assert schedule.rate_at(at(6, 0)) is None
    assert schedule.rate_at(at(5, 59)) == 256 * KIB


def test_entries_may_come_in_any_order() -> None:
    assert parse_schedule("23:00,off 08:00,1M") == parse_schedule("08:00,1M 23:00,off")


def test_a_run_crossing_a_boundary_switches_rate_there() -> None:
    clock = FakeClock(at(22, 59, 59))
    limit = limiter("08:00,1M 23:00,4M", clock)
    assert limit.rate() == MIB
    send(limit, 10 * MIB)
    assert limit.rate() == 4 * MIB
    # one second at 1M (its burst and 1 MiB), then a fresh bucket at 4M for the rest;
    # at 1M throughout it would have taken 9.5 s
    before, after = MIB * BURST_S + MIB, 10 * MIB - (MIB * BURST_S + MIB)
    assert clock.t == pytest.approx(1.0 + (after - 4 * MIB * BURST_S) / (4 * MIB), rel=0.05)
    assert before + after == 10 * MIB


def test_a_run_that_reaches_an_off_entry_stops_waiting() -> None:
    clock = FakeClock(at(22, 59, 59))
    limit = limiter("08:00,1M 23:00,off", clock)
    send(limit, 3 * MIB)
    assert limit.rate() is None
    waits = len(clock.sleeps)
    send(limit, 100 * MIB)
    assert len(clock.sleeps) == waits


# parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("512k", 512 * KIB),
        ("512K", 512 * KIB),
        ("2M", 2 * MIB),
        ("1.5M", 3 * MIB // 2),
        ("1G", 1024 * MIB),
        ("100", 100 * KIB),  # a bare number is KiB/s, as rclone
        ("4096B", 4096),
        ("off", None),
        (" OFF ", None),
    ],
)
def test_rates_read_as_rclone_reads_them(text: str, rate: int | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    "text",
    [
        "5X", "-1M", "nan", "inf", "1e3", "", "0", "100B", "2 M", "0x10", "08:00",
        "25:00,1M", "08:60,1M", "8:00,5X", "08:00,1M 08:00,off", "Mon-08:00,1M", "1M:512k",
        "08:00;1M",
    ],
)  # fmt: skip
def test_bad_rates_and_timetables_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_schedule(text)
    assert str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("08:00", "timetable entry '08:00' has no rate: give HH:MM,RATE"),
        ("08:00,1M 23:00,", "timetable entry '23:00,' has no rate after the comma (HH:MM,RATE)"),
        ("08:00,1M,extra", "timetable entry '08:00,1M,extra': '1M,extra' is not a rate"),
        ("08:00,0", "timetable entry '08:00,0': '0' is out of range"),
    ],
)
def test_a_bad_timetable_entry_is_named_in_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_schedule(text)
    assert str(exc.value).startswith(reason)


def test_the_setting_is_stored_single_spaced() -> None:
    assert bandwidth.normalize("  08:00,1M    23:00,off ") == "08:00,1M 23:00,off"
    assert bandwidth.normalize("512k") == "512k"
