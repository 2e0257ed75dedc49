"""`doctor`: one line per check, ok or the fix."""

from __future__ import annotations

import typer

from ..errors import ExitCode
from ..health import doctor_checks
from .common import JsonOpt, any_to_json, handle_errors, setup, state


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


@handle_errors
def doctor(json: bool = JsonOpt) -> None:
    """Check Python, config, providers, the token store, the data dir and each connection.

    Example: fermentrack-backup doctor
    """
    out = setup(json=json)
    checks = doctor_checks(state.config)
    if json:
        out.data(any_to_json(checks))
    else:
        for c in checks:
            out.line(f"ok: {c.name}: {c.detail}" if c.ok else f"FIX: {c.name}: {c.detail}")
            if not c.ok and c.fix:
                out.line(f"     fix: {c.fix}")
    if not all(c.ok for c in checks):
        raise typer.Exit(ExitCode.UNHEALTHY)
