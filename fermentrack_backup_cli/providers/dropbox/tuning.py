"""Adaptive chunk size and concurrency within a memory budget (issue 11, item 3).

Pure arithmetic: no SDK import, no I/O, so it is deterministic and testable.

The engine times the first chunk append(s) of a session (sent alone) and asks
`choose` how to continue. Keeping the link busy needs about latency x throughput
bytes in flight (the bandwidth-delay product); each request carries one chunk, so
the wanted concurrency is ceil(bdp / chunk) + 1, capped by 8 and by the number of
chunks the memory budget can hold at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1024 * 1024
# Dropbox wants every non-final append of a concurrent session to be a multiple of 4 MiB
CHUNK_UNIT = 4 * MIB
PREFERRED_CHUNK = 8 * MIB
MAX_PARALLEL = 8


@dataclass(frozen=True)
class Measure:
    """One timed request: seconds from send to answer, and the bytes it carried."""

    seconds: float
    nbytes: int


def chunk_for_budget(memory_bytes: int) -> int:
    """The chunk size for a budget: 8 MiB when two of them fit, else 4 MiB (the floor)."""
    if memory_bytes >= 2 * PREFERRED_CHUNK:
        return PREFERRED_CHUNK
    return CHUNK_UNIT


def max_parallel_for_budget(memory_bytes: int, chunk: int) -> int:
    return max(1, min(MAX_PARALLEL, memory_bytes // chunk))


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
    size = chunk if chunk is not None else chunk_for_budget(memory_bytes)
    cap = max_parallel_for_budget(memory_bytes, size)
    if latency <= 0 or throughput <= 0:
        return size, 1
    want = math.ceil(latency * throughput / size) + 1
    return size, max(1, min(want, cap))
