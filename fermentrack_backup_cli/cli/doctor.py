"""`doctor`: one line per check, ok or the fix."""

from __future__ import annotations

import typer

from ..core.doctor import doctor_checks
from ..errors import ExitCode
from .options import JSON
from .runtime import runtime


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(ctx: typer.Context, json: bool = JSON) -> None:
    """Check Python, config, providers, the token store, the data dir and each connection.

    Example: fermentrack-backup doctor
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    checks = doctor_checks(rt.config)
    if json:
        out.data({"ok": all(c.ok for c in checks), "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            out.line(f"ok: {c.name}: {c.detail}" if c.ok else f"FIX: {c.name}: {c.detail}")
            if not c.ok and c.fix:
                out.line(f"     fix: {c.fix}")
    if not all(c.ok for c in checks):
        raise typer.Exit(ExitCode.UNHEALTHY)
