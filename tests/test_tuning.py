"""The adaptive choice is deterministic given the measured latency and throughput."""

from fermentrack_backup_cli.providers.dropbox.tuning import (
    MIB,
    Measure,
    choose,
    estimate,
)


def test_high_latency_picks_parallel() -> None:
    # 100 ms, 20 MB/s: bdp 2 MB, under one 8 MiB chunk -> 2 in flight
    assert choose(24 * MIB, 0.1, 20e6) == (8 * MIB, 2)
    # 1 s at 40 MB/s: bdp 40 MB -> ceil(40e6 / 8 MiB) + 1 = 6
    assert choose(64 * MIB, 1.0, 40e6) == (8 * MIB, 6)


def test_budget_caps_parallel() -> None:
    assert choose(24 * MIB, 1.0, 40e6) == (8 * MIB, 3)
    assert choose(1024 * MIB, 10.0, 1e9) == (8 * MIB, 8)


def test_zero_latency_is_sequential() -> None:
    assert choose(24 * MIB, 0.0, 1e9) == (8 * MIB, 1)


def test_tiny_budget_is_sequential_4mib() -> None:
    assert choose(4 * MIB, 1.0, 40e6) == (4 * MIB, 1)
    assert choose(1, 1.0, 40e6) == (4 * MIB, 1)


def test_explicit_chunk_kept() -> None:
    assert choose(64 * MIB, 1.0, 40e6, chunk=16 * MIB) == (16 * MIB, 4)


def test_estimate_separates_latency_from_rate() -> None:
    # 0.1 s + bytes / 20 MB/s
    samples = [Measure(0.1 + n / 20e6, n) for n in (4 * MIB, 8 * MIB)]
    latency, rate = estimate(samples)
    assert abs(latency - 0.1) < 1e-9
    assert abs(rate - 20e6) < 1e-3
    assert estimate([]) == (0.0, 0.0)
    assert estimate([Measure(0.5, 1000)]) == (0.5, 2000.0)
