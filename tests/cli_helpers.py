"""Running the CLI in-process with Typer's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from fermentrack_backup_cli.cli import app


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)


def run_json(*args: str, env: dict[str, str] | None = None) -> Any:
    """The one --json document a command prints (lists are inside it: `["uploads"]`)."""
    result = run(*args, "--json", env=env)
    document = json.loads(result.stdout)
    assert document["schema_version"] == 1, document
    return document


UPLOAD_RESULT_KEYS = frozenset(
    {
        "path",
        "remote_path",
        "size",
        "content_hash",
        "status",
        "resumed_from",
        "duration_s",
        "bytes_per_s",
    }
)
"""The documented `upload --json` fields (issue 4): a contract the tests pin."""

EXE = str(Path(sys.executable).with_name("fermentrack-backup"))
"""The installed console script, for tests that run the CLI as cron would."""


def cli(
    *args: str,
    env: dict[str, str],
    input: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the installed entry point in a subprocess and capture its output."""
    return subprocess.run(
        [EXE, *args],
        env=env,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def history() -> list[Any]:
    """Every upload-history row, newest first, read straight from the database."""
    from fermentrack_backup_cli.core.context import Context

    app = Context.create()
    try:
        return app.db.attempts.list()
    finally:
        app.close()


def lock_for(ref: str, timeout: float = 0) -> Any:
    """The run lock a command with `--to ref` takes (to hold it in a test)."""
    from fermentrack_backup_cli.core.context import Context

    ctx = Context.create()
    return ctx.targets.lock(ctx.targets.open(ref), timeout)


def target_of(ctx: Any, conn: Any, retry: Any = None) -> Any:
    """The target of a connection, as a command of `ctx`'s run opens it."""
    return ctx.targets.open_connection(conn, retry=retry).target


class QuietReporter:
    """An upload reporter that shows nothing (a test subclasses what it needs)."""

    def file_started(self, name: str, size: int) -> None:
        return None

    def advance(self, nbytes: int) -> None:
        return None

    def file_done(self, result: Any, *, fatal: bool = False) -> None:
        return None

    def warning(self, name: str, text: str) -> None:
        return None
