"""Sizes, rates and ages for people: binary units (B, KiB, MiB, GiB, one decimal), rates in
MiB/s. One convention for progress bars, summaries, errors and notices; bytes stay
exact only in --json.
"""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB")


def human_size(size: int | float | None) -> str:
    """`67134066` -> `64.0 MiB`; bytes below 1 KiB stay whole (`512 B`); None -> ``."""
    if size is None:
        return ""
    value = float(size)
    for unit in UNITS:
        if abs(value) < 1024 or unit == UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def human_rate(bytes_per_s: float | None) -> str:
    """Always MiB/s, so two rates compare at a glance (`0.3 MiB/s`, `11.8 MiB/s`)."""
    if bytes_per_s is None:
        return ""
    return f"{bytes_per_s / 2**20:.1f} MiB/s"


def progress_pair(done: int | float, total: int | float) -> str:
    """`done/total UNIT` in the total's unit (`12.0/64.0 MiB`, `1.2/2.4 KiB`): always
    MiB showed a 2.4 KiB archive as `0.0/0.0 MiB`, as if it were empty."""
    unit, scale = "B", 1
    for index, name in enumerate(UNITS[1:], start=1):
        if total >= 1024**index:
            unit, scale = name, 1024**index
    if unit == "B":
        return f"{done:.0f}/{total:.0f} B"
    return f"{done / scale:.1f}/{total / scale:.1f} {unit}"


def size_pair(first: int | None, second: int | None) -> tuple[str, str]:
    """Two sizes a message compares ("stored copy is X, local is Y"): human units, or the
    exact byte counts when rounding would show two different sizes as the same."""
    a, b = human_size(first), human_size(second)
    if a == b and first != second and first is not None and second is not None:
        return f"{first:,} B", f"{second:,} B"
    return a, b


def human_age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds // span}{unit} ago"
    return f"{seconds}s ago"
