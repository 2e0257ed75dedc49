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

from . import errors
from .app import App
from .models import RemoteFile, UploadRecord, iso, utcnow
from .providers.base import Target
from .retention import POLICY_KEYS, Decision, Policy, clock_evidence, plan

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


def config_policy(app: App) -> Policy:
    """The retention policy saved in the config (`retention.keep_daily = 7` ...)."""
    return Policy.from_mapping({k: app.settings.get(f"retention.{k}") for k in POLICY_KEYS})


def _recorded(record: UploadRecord) -> str:
    if record.status == "completed":
        return "a backup was deleted" if record.action == "delete" else "a backup was uploaded"
    return "a deletion was attempted" if record.action == "delete" else "an upload was attempted"


def check_clock(
    app: App, target: Target, target_id: str, decisions: Sequence[Decision], now: datetime
) -> None:
    """Raise `errors.ClockWrong` when the clock is obviously behind: the history recorded
    a run at this target later than now, or most backups there are dated in the future."""
    last = app.history.last_finished(target_id)
    if last is not None and last.finished_at is not None and last.finished_at > now + HISTORY_SLACK:
        raise errors.ClockWrong(
            f"refusing to prune {target.description}: the system clock says {iso(now)} "
            f"but {_recorded(last)} at {iso(last.finished_at)}; nothing was deleted",
            CLOCK_HINT,
        )
    evidence = clock_evidence(decisions, now)
    if evidence is not None:
        raise errors.ClockWrong(
            f"refusing to prune {target.description}: {evidence}; nothing was deleted",
            CLOCK_HINT,
        )


def _delete(app: App, target: Target, target_id: str, files: Sequence[RemoteFile]) -> list[str]:
    """Delete in one call (the Dropbox target batches), one history row per file."""
    history = app.history
    rows = {
        f.name: history.start_upload(target_id, f.name, f.path, f.size, action="delete")
        for f in files
    }
    try:
        deleted = set(target.delete([f.name for f in files]))
    except BaseException as exc:
        code = exc.code if isinstance(exc, errors.BackupError) else "cancelled"
        for row in rows.values():
            history.finish_upload(row, "failed", error_code=code, error_message=str(exc))
        raise
    for name, row in rows.items():
        if name in deleted:
            history.finish_upload(row, "completed")
        else:
            message = "the target did not delete it"
            history.finish_upload(row, "failed", error_code="delete_failed", error_message=message)
    return [f.name for f in files if f.name in deleted]


def apply_policy(
    app: App,
    target: Target,
    target_id: str,
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
    with app.lock(target_id, PRUNE_LOCK_TIMEOUT, target):
        decisions = tuple(plan(target.list_files(), policy, now=now))
        check_clock(app, target, target_id, decisions, now)
        gone = [d.file for d in decisions if not d.keep]
        deleted = [] if dry_run or not gone else _delete(app, target, target_id, gone)
    failed = [] if dry_run else [f.name for f in gone if f.name not in set(deleted)]
    return PruneReport(
        target.description, policy.describe(), dry_run, decisions, tuple(deleted), tuple(failed)
    )


def prune(
    app: App, to: str | None, rules: Mapping[str, Any], *, dry_run: bool = False
) -> PruneReport:
    """Prune `to` with the rules given (keep_daily=7 ...), else the config's policy."""
    given = {k: v for k, v in rules.items() if v is not None}
    policy = Policy.from_mapping(given) if given else config_policy(app)
    target, target_id = app.target_for(to)
    return apply_policy(app, target, target_id, policy, dry_run=dry_run)


def prune_after_upload(app: App, target: Target, target_id: str) -> PruneReport | None:
    """`upload --prune`: apply the config's retention policy; None when none is set.

    Call only after a fully successful upload run, never after a failed one."""
    policy = config_policy(app)
    if policy.is_empty():
        return None
    return apply_policy(app, target, target_id, policy)


def outside_retention(
    app: App,
    target: Target,
    target_id: str,
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
        check_clock(app, target, target_id, decisions, now)
    except errors.BackupError:
        return set()
    doomed = {id(d.file) for d in decisions if d.remove}
    return {f.name for f in arriving if id(f) in doomed}
