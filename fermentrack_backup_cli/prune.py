"""Prune: apply `retention.plan` (restic `forget` semantics) at a target, under the
upload lock, recording every deletion as a history row (action "delete")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import errors
from .app import App
from .models import RemoteFile
from .providers.base import Target
from .retention import POLICY_KEYS, Decision, Policy, plan

PRUNE_LOCK_TIMEOUT = 60.0


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
        return [d for d in self.decisions if d.keep]

    @property
    def removed(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]

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
            "deleted": list(self.deleted),
            "failed": list(self.failed),
        }


def config_policy(app: App) -> Policy:
    """The retention policy saved in the config (`retention.keep_daily = 7` ...)."""
    return Policy.from_mapping({k: app.settings.get(f"retention.{k}") for k in POLICY_KEYS})


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
    app: App, target: Target, target_id: str, policy: Policy, *, dry_run: bool = False
) -> PruneReport:
    """Plan with `policy` and (unless `dry_run`) delete what it removes.

    Raises UsageError for a policy that keeps nothing. Holds the target's lock, so it
    never races an upload to the same target."""
    with app.lock(target_id, PRUNE_LOCK_TIMEOUT, target):
        decisions = tuple(plan(target.list_files(), policy))
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
