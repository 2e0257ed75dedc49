"""Prune: apply `retention.plan` (restic `forget` semantics) at a target, under the
upload lock, recording every deletion as a history row (action "delete").

Before anything is deleted the clock is checked against what the target and the history
say (`check_clock`): a Pi whose clock is obviously wrong would otherwise judge every
backup by the wrong calendar. `outside_retention` runs the same plan before an
`upload --prune`, so an archive the policy would delete at once is not uploaded at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .. import errors
from ..config import Settings
from ..models import RemoteFile, UploadRecord, iso, utcnow
from ..retention import POLICY_KEYS, Decision, Policy, clock_evidence, plan
from ..store import Attempts
from .targets import Opened, Targets

PRUNE_LOCK_TIMEOUT = 60.0
# A history row finished this long after "now" means the clock went back: a run moments
# ago on a clock a little ahead (NTP stepping it back) is not evidence.
HISTORY_SLACK = timedelta(hours=1)
CLOCK_HINT = (
    "fix the system clock (`timedatectl set-ntp true`, or check that NTP can reach its "
    "servers; `timedatectl` shows the time), then prune again"
)


@dataclass(frozen=True)
class PruneReport:
    target: str
    policy: str
    dry_run: bool
    decisions: tuple[Decision, ...]
    deleted: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.keep and not d.left_alone]

    @property
    def removed(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]

    @property
    def left_alone(self) -> list[Decision]:
        return [d for d in self.decisions if d.left_alone]

    @property
    def exit_code(self) -> int:
        return errors.ExitCode.FAILURE if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "policy": self.policy,
            "dry_run": self.dry_run,
            "kept": [d.to_json() for d in self.kept],
            "removed": [d.to_json() for d in self.removed],
            "left_alone": [d.to_json() for d in self.left_alone],
            "deleted": list(self.deleted),
            "failed": list(self.failed),
        }


def config_policy(settings: Settings) -> Policy:
    """The retention policy saved in the config (`retention.keep_daily = 7` ...)."""
    return Policy.from_mapping({k: settings.get(f"retention.{k}") for k in POLICY_KEYS})


def _recorded(record: UploadRecord) -> str:
    if record.status == "completed":
        return "a backup was deleted" if record.action == "delete" else "a backup was uploaded"
    return "a deletion was attempted" if record.action == "delete" else "an upload was attempted"


def check_clock(
    attempts: Attempts, opened: Opened, decisions: Sequence[Decision], now: datetime
) -> None:
    """Raise `errors.ClockWrong` when the clock is obviously behind: the history recorded
    a run at this target later than now, or most backups there are dated in the future."""
    target = opened.target
    last = attempts.last_finished(opened.target_id)
    if last is not None and last.finished_at is not None and last.finished_at > now + HISTORY_SLACK:
        raise errors.ClockWrong(
            f"refusing to prune {target.description}: the system clock says {iso(now)} "
            f"but {_recorded(last)} at {iso(last.finished_at)}; nothing was deleted",
            CLOCK_HINT + "; if the clock is right now, it was ahead during that run: the next "
            "upload to this target records the right time and prune works again",
        )
    evidence = clock_evidence(decisions, now)
    if evidence is not None:
        raise errors.ClockWrong(
            f"refusing to prune {target.description}: {evidence}; nothing was deleted",
            CLOCK_HINT,
        )


def _delete(attempts: Attempts, opened: Opened, files: Sequence[RemoteFile]) -> list[str]:
    """Delete in one call (a target may batch), one history row per file."""
    rows = {
        f.name: attempts.start(opened.target_id, f.name, f.path, f.size, action="delete")
        for f in files
    }
    try:
        deleted = set(opened.target.delete([f.name for f in files]))
    except BaseException as exc:
        code = exc.code if isinstance(exc, errors.BackupError) else "cancelled"
        for row in rows.values():
            attempts.finish(row, "failed", error_code=code, error_message=str(exc))
        raise
    for name, row in rows.items():
        if name in deleted:
            attempts.finish(row, "completed")
        else:
            message = "the target did not delete it"
            attempts.finish(row, "failed", error_code="delete_failed", error_message=message)
    return [f.name for f in files if f.name in deleted]


def apply_policy(
    targets: Targets,
    opened: Opened,
    policy: Policy,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneReport:
    """Plan with `policy` at `now` (default: the current time) and (unless `dry_run`)
    delete what it removes.

    Raises UsageError for a policy that keeps nothing and ClockWrong (also for a dry run:
    its plan would be as wrong) when the clock is obviously behind. Holds the target's
    lock, so it never races an upload to the same target."""
    now = utcnow() if now is None else now
    attempts, target = targets.db.attempts, opened.target
    with targets.lock(opened, PRUNE_LOCK_TIMEOUT):
        decisions = tuple(plan(target.list_files(), policy, now=now))
        check_clock(attempts, opened, decisions, now)
        gone = [d.file for d in decisions if not d.keep]
        deleted = [] if dry_run or not gone else _delete(attempts, opened, gone)
    failed = [] if dry_run else [f.name for f in gone if f.name not in set(deleted)]
    return PruneReport(
        target.description, policy.describe(), dry_run, decisions, tuple(deleted), tuple(failed)
    )


def prune(
    targets: Targets, to: str | None, rules: Mapping[str, Any], *, dry_run: bool = False
) -> PruneReport:
    """Prune `to` with the rules given (keep_daily=7 ...), else the config's policy."""
    given = {k: v for k, v in rules.items() if v is not None}
    policy = Policy.from_mapping(given) if given else config_policy(targets.settings)
    return apply_policy(targets, targets.open(to), policy, dry_run=dry_run)


def prune_after_upload(targets: Targets, opened: Opened) -> PruneReport | None:
    """`upload --prune`: apply the config's retention policy; None when none is set.

    Call only after a fully successful upload run, never after a failed one."""
    policy = config_policy(targets.settings)
    if policy.is_empty():
        return None
    return apply_policy(targets, opened, policy)


def outside_retention(
    attempts: Attempts,
    opened: Opened,
    stored: Iterable[RemoteFile],
    incoming: Iterable[RemoteFile],
    policy: Policy,
    *,
    now: datetime | None = None,
) -> set[str]:
    """Names among `incoming` (archives about to be uploaded, not stored yet) that the
    plan over `stored` plus `incoming` would delete as soon as they were stored.

    Call under the target's lock, with `stored` listed under it. Empty when the policy is
    empty, the clock looks wrong or the plan is refused: then everything is uploaded (a
    backup is worth more than the space) and the prune that follows refuses, saying why."""
    if policy.is_empty():
        return set()
    now = utcnow() if now is None else now
    arriving = list(incoming)
    try:
        decisions = plan([*stored, *arriving], policy, now=now)
        check_clock(attempts, opened, decisions, now)
    except errors.BackupError:
        return set()
    doomed = {id(d.file) for d in decisions if not d.keep}
    return {f.name for f in arriving if id(f) in doomed}
