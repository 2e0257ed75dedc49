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
    healthy = all(c.ok or c.warning for c in checks)
    if json:
        out.data({"ok": healthy, "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            mark = "ok" if c.ok else "WARN" if c.warning else "FIX"
            out.line(f"{mark}: {c.name}: {c.detail}")
            if not c.ok and c.fix:
                out.line(f"     fix: {c.fix}")
    if not healthy:
        if not json:  # (--json: `ok` and each check are in the data)
            broken = [c.name for c in checks if not (c.ok or c.warning)]
            out.fail(
                f"unhealthy: {len(broken)} check(s) need fixing ({', '.join(broken)})",
                "do what the `fix:` lines above say, then run `fermentrack-backup doctor` again",
            )
        raise typer.Exit(ExitCode.UNHEALTHY)
