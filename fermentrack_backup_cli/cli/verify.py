"""`verify`: prove archives are readable, that stored copies match, and (with
--remote) that the stored copies themselves still restore."""

from __future__ import annotations

import json as json_lib
from pathlib import Path
from typing import Any

import typer

from .. import errors
from ..core.remote_verify import RemoteCheck, checks_exit_code, verify_remote
from ..core.verify import verify_paths
from ..errors import ExitCode
from ..models import ArchiveReport
from ..output import Output
from ..units import human_size
from . import completion
from .options import JSON, count_option, max_duration_option
from .render import exit_with, watching
from .runtime import runtime


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify(
    ctx: typer.Context,
    items: list[str] | None = typer.Argument(
        None,
        metavar="[PATHS]...",
        autocompletion=completion.remote_names,
        help="Archives or folders of archives; with --remote, names of stored backups.",
    ),
    to: str | None = typer.Option(
        None,
        "--to",
        metavar="CONNECTION",
        autocompletion=completion.connections,
        help="The target holding the stored copies.",
    ),
    remote: bool = typer.Option(
        False, "--remote", help="Verify stored copies at the target, streamed, not saved."
    ),
    all_: bool = typer.Option(False, "--all", help="With --remote: every stored backup."),
    latest: int | None = typer.Option(
        None,
        "--latest",
        metavar="N",
        parser=count_option(1, 100_000, "--latest 1"),
        help="With --remote: the newest N stored backups.",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="An unrecognised layout is an error (exit 5), not a warning."
    ),
    json: bool = JSON,
    max_duration: str | None = max_duration_option(),
) -> None:
    """Read every member of each archive, find the Fermentrack data dump, name the layout.

    Example: fermentrack-backup verify --remote --latest 1 --to dropbox
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    rt.context.settings.override("upload.max_duration", max_duration)
    names = items or []
    if remote or all_ or latest is not None:
        _check_remote_args(names, all_, latest)
        if strict:
            raise errors.UsageError(
                "--strict applies to local archives, not to --remote checks",
                "verify the local archives with --strict, or drop --strict",
            )
        with watching(out) as watcher:
            checks = verify_remote(rt.context.targets, to, names, latest=latest, watcher=watcher)
        if json:
            out.data({"ok": all(c.ok for c in checks), "backups": [c.to_json() for c in checks]})
        else:
            _show_checks(out, checks)
        exit_with(checks_exit_code(checks))
        return
    if not names:
        raise errors.UsageError(
            "nothing to verify",
            "pass archives or a folder, or --remote NAME / --remote --all with --to",
        )
    reports = verify_paths(rt.context.targets, [Path(n) for n in names], to)
    if strict:
        from ..archive import apply_strict  # deferred: tarfile/lzma/zipfile

        reports = [apply_strict(r) for r in reports]
    if json:
        out.data({"ok": all(r.ok for r in reports), "archives": [r.to_json() for r in reports]})
    else:
        _show_reports(out, reports)
    _show_warnings(out, reports, json)
    if any(not r.ok for r in reports):
        if not json:
            _show_failed(out, reports)
        raise typer.Exit(ExitCode.VERIFY)


def _check_remote_args(names: list[str], all_: bool, latest: int | None) -> None:
    if names and (all_ or latest is not None):
        raise errors.UsageError(
            "give stored backup names or --all/--latest, not both", "e.g. verify --remote --all"
        )
    if all_ and latest is not None:
        raise errors.UsageError("--all and --latest exclude each other", "use one of them")
    if not names and not all_ and latest is None:
        raise errors.UsageError(
            "--remote needs stored backup names, --all or --latest N",
            "e.g. verify --remote --latest 1 --to dropbox (see `remote ls`)",
        )


def _shown(value: Any) -> str:
    """A file_version as read from the archive, printable whatever it holds."""
    if isinstance(value, str) and value.isascii() and value.isprintable() and len(value) <= 40:
        return value
    text = json_lib.dumps(value)  # escapes control characters, newlines and non-ASCII
    return text if len(text) <= 40 else text[:37] + "..."


def _show_reports(out: Output, reports: list[ArchiveReport]) -> None:
    for r in reports:
        name = Path(r.path).name
        if r.ok:
            version = (
                f", file_version {_shown(r.file_version)}" if r.file_version is not None else ""
            )
            out.line(
                f"ok: {name} ({r.format}, {r.layout}, {r.members} members{version}, "
                f"{human_size(r.size)})"
            )
        else:
            out.line(f"FAILED: {name}: {'; '.join(r.problems)}")


def _show_warnings(out: Output, reports: list[ArchiveReport], json: bool) -> None:
    """Warnings go to stderr in every mode (with --json they are in the data, too)."""
    for r in reports:
        for warning in r.warnings:
            out.warn(f"{Path(r.path).name}: {warning}")
    strict_failures = sum(r.error_code == "unknown_layout" for r in reports)
    if strict_failures and not json:
        out.fail(
            f"{strict_failures} archive(s) of an unrecognised layout (--strict)",
            "check that these are Fermentrack backups (see README, Archive layouts), "
            "or drop --strict to accept them with a warning",
        )


STORED_PROBLEMS = ("verify_mismatch", "remote_missing")
"""Failures of the stored copy (`verify --to`), not of the local archive."""


def _show_failed(out: Output, reports: list[ArchiveReport]) -> None:
    """After the FAILED lines: one `error:` and its hint, as every failure ends (a strict
    refusal has its own, in `_show_warnings`)."""
    failed = [r for r in reports if not r.ok and r.error_code != "unknown_layout"]
    if not failed:
        return
    stored = sum(r.error_code in STORED_PROBLEMS for r in failed)
    hints = []
    if stored < len(failed):
        hints.append("a damaged archive cannot be restored: make a new backup in Fermentrack")
    if stored:
        hints.append("a stored copy missing or different: upload it (--overwrite if it differs)")
    out.fail(f"{len(failed)} of {len(reports)} archive(s) failed verification", "; ".join(hints))


def _hash_state(c: RemoteCheck) -> str:
    if c.expected_hash is None or c.content_hash is None:
        return "not compared"
    return f"matches {c.hash_source}" if c.content_hash == c.expected_hash else "DIFFERS"


def _show_checks(out: Output, checks: list[RemoteCheck]) -> None:
    rows = [
        (
            c.name,
            "ok" if c.ok else "FAILED",
            c.format or "",
            c.members or "",
            human_size(c.size),
            _hash_state(c),
            "; ".join(c.problems),
        )
        for c in checks
    ]
    columns = ("name", "result", "format", "members", "size", "content hash", "problems")
    out.table("Stored backups", columns, rows)
    failed = [c for c in checks if not c.ok]
    damaged = [c for c in failed if c.exit_code == ExitCode.VERIFY]
    if damaged:
        out.fail(
            f"{len(damaged)} of {len(checks)} stored backup(s) are damaged",
            "a damaged stored copy cannot be restored: upload a good local copy again "
            "with --overwrite, or rely on another backup",
        )
    for check in (c for c in failed if c.exit_code != ExitCode.VERIFY):
        out.fail(f"{check.name} could not be checked: {check.problems[0]}", check.hint)
    if not failed:
        out.info(f"all {len(checks)} stored backup(s) verified")
