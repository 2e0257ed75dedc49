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
    from fermentrack_backup_cli.cli.common import state

    state.app = None
    runner = CliRunner()
    return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)


def run_json(*args: str, env: dict[str, str] | None = None) -> Any:
    result = run(*args, "--json", env=env)
    return json.loads(result.stdout)


UPLOAD_RESULT_KEYS = frozenset(
    {
        "local_path",
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
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed entry point in a subprocess and capture its output."""
    return subprocess.run(
        [EXE, *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def history() -> list[Any]:
    """Every upload-history row, newest first, read straight from the database."""
    from fermentrack_backup_cli.app import App

    app = App.create()
    try:
        return app.history.uploads()
    finally:
        app.close()
