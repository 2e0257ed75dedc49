"""`status`: is every connection healthy, reachable and backing up?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..columns import Column
from ..config import parse_duration
from ..core.status import ConnectionStatus, connection_status
from ..errors import ExitCode, InvalidValue
from ..output import Output
from ..units import human_age, human_size
from . import completion
from .options import JSON, WIDE
from .runtime import runtime

COLUMNS = (
    Column("connection"),
    Column("provider", essential=False),
    Column("health", elide=False),
    Column("state", essential=False),
    Column("token", essential=False),
    Column("account", essential=False),
    Column("space", essential=False),
    Column("stored", essential=False),
    Column("last success"),
    Column("last failure", essential=False),
    Column("last verified", essential=False),
    Column("problems"),
)
"""On a terminal the compact view (80 columns) has the essential ones; --wide all."""


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(
    ctx: typer.Context,
    connection: str | None = typer.Argument(
        None,
        metavar="[CONNECTION]",
        autocompletion=completion.connections,
        help="Only this connection.",
    ),
    json: bool = JSON,
    offline: bool = typer.Option(
        False, "--offline", help="No network calls: report from the history database only."
    ),
    max_age: str | None = typer.Option(
        None,
        "--max-age",
        metavar="DURATION",
        help="Unhealthy when the last success is older (26h).",
    ),
    prometheus: Path | None = typer.Option(
        None,
        "--prometheus",
        metavar="FILE",
        help="Also write Prometheus metrics to FILE (node_exporter textfile collector; "
        "nothing on stdout unless --json).",
    ),
    wide: bool = WIDE,
) -> None:
    """Check each connection (token, account, space, stored backups) and its last upload.

    Example: fermentrack-backup status --max-age 26h
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    try:
        max_age_s = parse_duration(max_age) if max_age else None
    except ValueError as exc:
        raise InvalidValue(f"invalid --max-age: {exc}", "e.g. --max-age 26h") from None
    statuses = connection_status(
        rt.context.targets, connection, max_age_s=max_age_s, offline=offline
    )
    if prometheus is not None:
        _write_metrics(out, prometheus, statuses)
    if json:
        out.data(
            {"ok": all(s.healthy for s in statuses), "connections": [s.to_json() for s in statuses]}
        )
    elif prometheus is not None:
        pass  # a cron line writing the metrics file mails nothing on success
    elif not statuses:
        out.info("no connections; link one with `fermentrack-backup link PROVIDER`")
    else:
        out.table("Status", COLUMNS, [_row(s) for s in statuses], wide=wide)
        if out.rich_stdout and not wide:
            # the compact table elides them (`target fold…ir` does))`): each whole, below
            for s in statuses:
                for problem in s.problems:
                    out.line(f"problem: {s.label}: {problem}")
    unhealthy = [s for s in statuses if not s.healthy]
    if unhealthy:
        if not json:  # (--json: `ok` and each connection's problems are in the data)
            labels = ", ".join(s.label for s in unhealthy)
            where = "the problems above" if prometheus is None else "`fermentrack-backup status`"
            out.fail(
                f"unhealthy: {len(unhealthy)} of {len(statuses)} connection(s) ({labels})",
                f"see {where}; `fermentrack-backup doctor` checks the setup",
            )
        raise typer.Exit(ExitCode.UNHEALTHY)
    if not statuses and max_age_s is not None:
        # a monitor asking "is anything backing up?" must not read "nothing linked" as yes
        out.fail(
            "unhealthy: no connections, so no backups",
            "link one, or run status as the cron user",
        )
        raise typer.Exit(ExitCode.UNHEALTHY)


def _write_metrics(out: Output, path: Path, statuses: list[ConnectionStatus]) -> None:
    from ..core.metrics import check_metrics_path, write_metrics

    check_metrics_path(path)
    if not path.name.endswith(".prom"):
        out.warn(f"{path.name}: node_exporter's textfile collector reads only *.prom files")
    write_metrics(path, statuses)


def _row(s: ConnectionStatus) -> tuple[Any, ...]:
    ok, bad, extra = s.last_success, s.last_failure, s.extra
    account = extra.get("account") or {}
    space = extra.get("space") or {}
    stored = extra.get("stored")
    verified = extra.get("last_verification")
    return (
        s.label,
        s.provider,
        "ok" if s.healthy else "UNHEALTHY",
        s.state,
        "refreshes" if extra.get("token_refreshes") else "-",
        account.get("email", ""),
        f"{human_size(space['used'])} of {human_size(space['allocated'])}" if space else "",
        _stored_cell(stored),
        f"{Path(ok.local_path).name} ({human_age(s.last_success_age_s)})" if ok else "never",
        f"{Path(bad.local_path).name}: {bad.error_code}" if bad else "",
        (
            f"{'ok' if verified['ok'] else 'FAILED'} ({human_age(verified['age_s'])})"
            if verified
            else "never"
        ),
        "; ".join(s.problems),
    )


def _stored_cell(stored: dict[str, Any] | None) -> str:
    if not stored:
        return ""
    if not stored["count"]:
        return "none"
    return (
        f"{stored['count']} ({human_size(stored['total_size'])}), newest "
        f"{stored['newest']} ({human_age(stored['newest_age_s'])})"
    )
