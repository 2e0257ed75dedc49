"""Adaptive chunk size and concurrency within a memory budget (issue 11, item 3).

Pure arithmetic: no SDK import, no I/O, so it is deterministic and testable.

The budget holds the chunks in flight plus the one read ahead (read and hashed while the
others are sent). The engine times the first appends of a session (sent alone: 4 MiB,
then one chunk) and asks `choose` how to continue:

* a near path (latency under `FAR_LATENCY_S` and one connection faster than
  `NEAR_RATE`: the CPU is the limit, not the link): 8 MiB chunks and two in flight (one
  being answered while the next is sent, so the client's reading and hashing overlap
  the server's work), more if the bandwidth-delay product needs it;
* a far path (anything else, Dropbox over the internet): per-connection throughput over
  a long round trip is capped (TCP window / RTT), so requests in flight multiply it and
  pay the latency once: 4 MiB chunks, as many in flight as the budget holds (at most 8).

Both measures are noisy on a fast link (a 4 MiB probe takes ~25 ms on loopback), so
each regime needs both signals to be clear before the near one is chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1024 * 1024
# Dropbox wants every non-final append of a concurrent session to be a multiple of 4 MiB
CHUNK_UNIT = 4 * MIB
PREFERRED_CHUNK = 8 * MIB
MAX_PARALLEL = 8
FAR_LATENCY_S = 0.03  # per-request latency from which the path counts as far
NEAR_RATE = 50e6  # bytes/s of one connection under which the path counts as far
READ_AHEAD = 1  # chunks read and hashed ahead of the requests in flight


@dataclass(frozen=True)
class Measure:
    """One timed request: seconds from send to answer, and the bytes it carried."""

    seconds: float
    nbytes: int


def chunk_for_budget(memory_bytes: int) -> int:
    """The starting chunk size: 8 MiB when two in flight and one read ahead fit, else
    4 MiB (the floor)."""
    if memory_bytes >= (2 + READ_AHEAD) * PREFERRED_CHUNK:
        return PREFERRED_CHUNK
    return CHUNK_UNIT


def max_parallel_for_budget(memory_bytes: int, chunk: int) -> int:
    """Requests in flight the budget holds beside the chunk read ahead (at least 1)."""
    return max(1, min(MAX_PARALLEL, memory_bytes // chunk - READ_AHEAD))


def estimate(measures: list[Measure]) -> tuple[float, float]:
    """(latency seconds, throughput bytes/s) from timed requests.

    With one sample latency and throughput cannot be told apart; we attribute the
    whole time to latency only above what the bytes at the observed rate explain,
    using the fastest and slowest samples when two sizes were seen."""
    if not measures:
        return 0.0, 0.0
    if len(measures) >= 2:
        small = min(measures, key=lambda m: m.nbytes)
        big = max(measures, key=lambda m: m.nbytes)
        if big.nbytes > small.nbytes and big.seconds > small.seconds:
            rate = (big.nbytes - small.nbytes) / (big.seconds - small.seconds)
            latency = max(0.0, small.seconds - small.nbytes / rate)
            return latency, rate
    total_s = sum(m.seconds for m in measures)
    total_b = sum(m.nbytes for m in measures)
    return total_s / len(measures), (total_b / total_s if total_s > 0 else 0.0)


def choose(
    memory_bytes: int, latency: float, throughput: float, chunk: int | None = None
) -> tuple[int, int]:
    """(chunk_size bytes, parallel) for the rest of the upload.

    latency: seconds per request not explained by its bytes; throughput: bytes/s of
    one connection. An explicit `chunk` (from --chunk-size) is kept."""
    far = latency >= FAR_LATENCY_S or 0 < throughput < NEAR_RATE
    size = chunk or (CHUNK_UNIT if far else chunk_for_budget(memory_bytes))
    cap = max_parallel_for_budget(memory_bytes, size)
    if far:
        return size, cap
    want = 2
    if latency > 0 and throughput > 0:
        want = max(want, math.ceil(latency * throughput / size) + 1)
    return size, max(1, min(want, cap))
