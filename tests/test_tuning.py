"""The adaptive choice is deterministic given the measured latency and throughput."""

from fermentrack_backup_cli.providers.dropbox.tuning import (
    FAR_LATENCY_S,
    MIB,
    NEAR_RATE,
    Measure,
    choose,
    chunk_for_budget,
    estimate,
    max_parallel_for_budget,
)


def test_budget_holds_the_chunks_in_flight_and_the_one_read_ahead() -> None:
    assert chunk_for_budget(24 * MIB) == 8 * MIB  # 2 in flight + 1 read ahead
    assert chunk_for_budget(23 * MIB) == 4 * MIB
    assert max_parallel_for_budget(24 * MIB, 8 * MIB) == 2
    assert max_parallel_for_budget(24 * MIB, 4 * MIB) == 5
    assert max_parallel_for_budget(8 * MIB, 8 * MIB) == 1  # never 0
    assert max_parallel_for_budget(4096 * MIB, 4 * MIB) == 8  # at most 8


def test_near_path_keeps_two_in_flight() -> None:
    # loopback / LAN: one answered while the next is sent, 8 MiB chunks
    assert choose(24 * MIB, 0.0, 1e9) == (8 * MIB, 2)
    assert choose(24 * MIB, 0.0, 0.0) == (8 * MIB, 2)
    assert choose(24 * MIB, FAR_LATENCY_S / 2, 1e9) == (8 * MIB, 2)


def test_near_path_covers_a_large_bandwidth_delay_product() -> None:
    # 25 ms at 1 GB/s: bdp 25 MB -> ceil(25e6 / 8 MiB) + 1 = 4, within a 64 MiB budget
    assert choose(64 * MIB, 0.025, 1e9) == (8 * MIB, 4)
    assert choose(24 * MIB, 0.025, 1e9) == (8 * MIB, 2)  # the budget caps it


def test_far_path_uses_small_chunks_and_the_whole_budget() -> None:
    # 100 ms, 20 MB/s per connection: connections multiply the capped throughput
    assert choose(24 * MIB, 0.1, 20e6) == (4 * MIB, 5)
    assert choose(24 * MIB, FAR_LATENCY_S, 20e6) == (4 * MIB, 5)
    assert choose(1024 * MIB, 1.0, 1e6) == (4 * MIB, 8)


def test_a_slow_connection_counts_as_far_even_without_latency() -> None:
    # 20 MB/s per connection and no measurable latency: the link, not the CPU, limits
    assert choose(24 * MIB, 0.0, 20e6) == (4 * MIB, 5)
    assert choose(24 * MIB, 0.0, NEAR_RATE) == (8 * MIB, 2)


def test_tiny_budget_is_one_in_flight() -> None:
    assert choose(8 * MIB, 1.0, 40e6) == (4 * MIB, 1)
    assert choose(1, 0.0, 40e6) == (4 * MIB, 1)


def test_explicit_chunk_kept() -> None:
    assert choose(64 * MIB, 1.0, 40e6, chunk=16 * MIB) == (16 * MIB, 3)
    assert choose(64 * MIB, 0.0, 1e9, chunk=16 * MIB) == (16 * MIB, 2)


def test_estimate_separates_latency_from_rate() -> None:
    # 0.1 s + bytes / 20 MB/s
    samples = [Measure(0.1 + n / 20e6, n) for n in (4 * MIB, 8 * MIB)]
    latency, rate = estimate(samples)
    assert abs(latency - 0.1) < 1e-9
    assert abs(rate - 20e6) < 1e-3
    assert estimate([]) == (0.0, 0.0)
    assert estimate([Measure(0.5, 1000)]) == (0.5, 2000.0)


def test_measured_samples_decide_the_choice() -> None:
    """End to end through the arithmetic: the same measures always give the same plan."""
    near = [Measure(n / 150e6, n) for n in (4 * MIB, 8 * MIB)]  # loopback, 150 MB/s
    far = [Measure(0.1 + n / 20e6, n) for n in (4 * MIB, 8 * MIB)]
    assert choose(24 * MIB, *estimate(near)) == (8 * MIB, 2)
    assert choose(24 * MIB, *estimate(far)) == (4 * MIB, 5)
