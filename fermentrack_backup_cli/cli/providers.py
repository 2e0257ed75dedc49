"""`providers`: which storage providers are available and why not."""

from __future__ import annotations

import typer

from .common import JsonOpt, any_to_json, get_app, handle_errors, setup


def register(app: typer.Typer) -> None:
    app.command("providers")(providers)


@handle_errors
def providers(json: bool = JsonOpt) -> None:
    """List storage providers and whether each is enabled.

    Example: fermentrack-backup providers --json
    """
    out = setup(json=json)
    infos = get_app().providers()
    if json:
        out.data(any_to_json(infos))
        return
    rows = [
        (p.provider_id, p.display_name, "yes" if p.is_enabled else "no", p.reason or "")
        for p in infos
    ]
    out.table("Providers", ("provider", "name", "enabled", "reason"), rows)
