"""Pure retention logic: backup times, keep rules, and the plan of what to delete.

No I/O: `core.prune` lists a target, asks `plan`, and deletes what it says.
"""

from .plan import (
    FUTURE_SLACK,
    Decision,
    candidates,
    clock_evidence,
    ensure_safe,
    kept,
    left_alone_reasons,
    looks_real,
    plan,
    removed,
)
from .policy import POLICY_KEYS, UNLIMITED, Policy
from .times import CalendarDuration, backup_time, name_time

__all__ = [
    "FUTURE_SLACK",
    "POLICY_KEYS",
    "UNLIMITED",
    "CalendarDuration",
    "Decision",
    "Policy",
    "backup_time",
    "candidates",
    "clock_evidence",
    "ensure_safe",
    "kept",
    "left_alone_reasons",
    "looks_real",
    "name_time",
    "plan",
    "removed",
]
