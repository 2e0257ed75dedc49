"""`providers`: which storage providers are available and why not."""

from __future__ import annotations

import typer

from .. import providers as registry
from .options import JSON
from .runtime import runtime


def register(app: typer.Typer) -> None:
    app.command("providers")(providers)


def providers(ctx: typer.Context, json: bool = JSON) -> None:
    """List storage providers and whether each is enabled.

    Example: fermentrack-backup providers --json
    """
    rt = runtime(ctx)
    out = rt.output(json=json)
    settings = rt.context.settings
    infos = [registry.load(spec.id).availability(settings) for spec in registry.specs()]
    if json:
        out.data({"providers": [p.to_json() for p in infos]})
        return
    rows = [
        (p.provider_id, p.display_name, "yes" if p.is_enabled else "no", p.reason or "")
        for p in infos
    ]
    out.table("Providers", ("provider", "name", "enabled", "reason"), rows)
