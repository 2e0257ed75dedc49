"""`link PROVIDER`: one command per registered provider, by how it links.

A folder provider takes `PATH` (`link local /mnt/usb`); an OAuth provider runs the
authorization-code flow: browser mode, headless paste, or the two steps `--print-url`
then `--code`. The commands are built from the registry, so a new provider gets its
`link` command without touching this module.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .. import errors, providers
from ..output import Output
from ..providers.spec import ProviderSpec
from .options import (
    LABEL,
    config_option,
    refuse_together,
    seconds_option,
    stdin_is_tty,
    typer_app,
)
from .runtime import runtime

if TYPE_CHECKING:
    from ..core.link import LinkResult, LinkStart


def register(app: typer.Typer) -> None:
    group = typer_app(help="Link a storage target (see `providers`).", no_args_is_help=True)
    for spec in providers.specs():
        if spec.link == "folder":
            group.command(spec.id, help=_folder_help(spec))(_folder_command(spec))
        else:
            group.command(spec.id, help=_oauth_help(spec))(_oauth_command(spec))
    app.add_typer(group, name="link")


# folders -------------------------------------------------------------------------------


def _folder_help(spec: ProviderSpec) -> str:
    return (
        "Link a folder (USB stick, NAS mount) as a backup target.\n\n"
        "The filesystem it is on is recorded: later runs refuse it when the drive is not "
        "mounted. Linking a linked folder again records its filesystem anew.\n\n"
        f"Example: fermentrack-backup link {spec.id} /mnt/usb --label usb"
    )


def _folder_command(spec: ProviderSpec) -> Callable[..., None]:
    def link_folder(
        ctx: typer.Context,
        path: Path = typer.Argument(
            ..., metavar="PATH", help="Folder to store backups in (must exist)."
        ),
        label: str | None = LABEL,
    ) -> None:
        from ..core.link import link_folder as link

        rt = runtime(ctx)
        out = rt.output()
        conn, again = link(rt.context.targets, spec.id, path, label)
        if again:
            out.line(f"{conn.label} ({conn.id}) -> {conn.location}: recorded its filesystem again")
        else:
            out.line(f"linked {conn.label} ({conn.id}) -> {conn.location}")

    return link_folder


# OAuth ---------------------------------------------------------------------------------


def _oauth_help(spec: ProviderSpec) -> str:
    return (
        f"Link a {spec.display_name} account (OAuth with PKCE; the refresh token goes to "
        "the token store).\n\n"
        f"Example: fermentrack-backup link {spec.id} --no-browser"
    )


def headless(environ: dict[str, str] | None = None) -> bool:
    """No display to open a browser on (an SSH session to a Pi) and no BROWSER set."""
    env = os.environ if environ is None else environ
    if sys.platform in ("darwin", "win32") or env.get("BROWSER"):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _oauth_command(spec: ProviderSpec) -> Callable[..., None]:
    def link_account(
        ctx: typer.Context,
        label: str | None = LABEL,
        browser: bool | None = typer.Option(
            None,
            "--browser/--no-browser",
            help="Open a browser and wait for it (default when a display or BROWSER "
            "exists), or print the address and paste the code.",
        ),
        port: int | None = typer.Option(
            None,
            "--port",
            metavar="N",
            parser=config_option("oauth.callback_port", "--port 53682"),
            help="Callback port (default oauth.callback_port).",
        ),
        timeout: float = typer.Option(
            300.0,
            "--timeout",
            metavar="SECONDS",
            parser=seconds_option(1, 600, "--timeout 300"),
            help="Seconds to wait for Allow (at most 600).",
        ),
        print_url: bool = typer.Option(
            False, "--print-url", help="Step 1 of 2: save the attempt, print the address, exit."
        ),
        code: str | None = typer.Option(
            None,
            "--code",
            metavar="CODE_OR_URL",
            help="Step 2 of 2: the code shown after Allow, or the localhost address "
            "('-' reads stdin).",
        ),
    ) -> None:
        rt = runtime(ctx)
        out = rt.output()
        refuse_together(**{"--print-url": print_url, "--code": code})
        refuse_together(**{"--print-url": print_url, "--browser": browser is True})
        refuse_together(**{"--code": code, "--browser": browser is True})
        from ..core.link import Linker  # deferred: an OAuth provider may import its SDK

        targets = rt.context.targets
        linker = Linker(targets, spec.id)
        port = port or int(targets.settings.get("oauth.callback_port"))
        if code is not None:
            result = linker.complete_saved(_read_line(spec) if code == "-" else code, label)
        elif print_url:
            _print_two_step(out, spec, linker.begin_two_step(port))
            return
        elif browser is False or (browser is None and headless()):
            linker.check_store()
            start = linker.start(port)
            _announce_headless(out, spec, start, port)
            result = linker.complete_pasted(start, _read_line(spec), label)
        else:
            result = linker.in_browser(
                port, timeout, label, lambda s: _announce_browser(out, spec, s), _open_browser
            )
        _report(out, spec, result)

    return link_account


def _open_browser(url: str) -> bool:
    import webbrowser  # honours BROWSER

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def _announce_browser(out: Output, spec: ProviderSpec, start: LinkStart) -> None:
    uri = start.pending.redirect_uri
    out.info(f"Redirect URI (register it exactly in the {spec.display_name} app's settings): {uri}")
    out.info("Opening your browser. If it does not open, visit this address:")
    out.url(start.redirect_url)
    out.info("Waiting for you to click Allow...")


def _announce_headless(out: Output, spec: ProviderSpec, start: LinkStart, port: int) -> None:
    out.info("Open this address in a browser on any device and click Allow:")
    out.url(start.code_url)
    out.info(f"then paste the code {spec.display_name} shows.")
    out.info(
        f"Or, if the app has {start.pending.redirect_uri} registered, open this address and "
        "paste the localhost address your browser lands on (it will not load):"
    )
    out.url(start.redirect_url)
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    if len(ssh) >= 3:
        out.info("Or tunnel the callback: reconnect with")
        out.command(f"ssh -L {port}:localhost:{port} {getpass.getuser()}@{ssh[2]}")
        out.info("and run")
        out.command(f"fermentrack-backup link {spec.id} --browser --port {port}")
        out.info("then open the address it prints on your computer.")


def _print_two_step(out: Output, spec: ProviderSpec, start: LinkStart) -> None:
    out.url(start.code_url, data=True)
    out.info("Open the address above, click Allow, then run:")
    out.info(f"  fermentrack-backup link {spec.id} --code CODE")
    out.info(f"within 10 minutes. Alternative address (redirects to {start.pending.redirect_uri};")
    out.info("pass the address it lands on to --code):")
    out.url(start.redirect_url)


def _read_line(spec: ProviderSpec) -> str:
    if stdin_is_tty():
        text = str(typer.prompt("Code or address (input hidden)", hide_input=True))
    else:
        text = sys.stdin.readline()
    if not text.strip():
        raise errors.UsageError(
            "nothing was pasted",
            f"run `fermentrack-backup link {spec.id}` again and paste the code",
        )
    return text


def _report(out: Output, spec: ProviderSpec, result: LinkResult) -> None:
    conn = result.connection
    who = f"{conn.account_name} <{conn.account_email}>"
    if result.refreshed:
        out.line(
            f"{who} was already linked as {conn.label} ({conn.id}): "
            "refreshed its token instead of adding a duplicate"
        )
        if result.was_needs_relink:
            out.info("the connection is ok again (needs_relink cleared); its history is kept")
    else:
        out.line(
            f"linked {spec.display_name} account {who} as connection {conn.label!r} ({conn.id[:8]})"
        )
    out.info(f"refresh token stored in {result.token_location}")
    _report_cron(out, result)


def _report_cron(out: Output, result: LinkResult) -> None:
    """Linked over SSH into a session-only keyring: say so now, not after the nightly run."""
    cron = result.cron
    if cron is None:
        return
    if cron.reachable:
        out.info(f"cron can read it: {cron.detail}")
        return
    if cron.reachable is None:
        out.warn(f"could not check that cron and systemd can read the token: {cron.detail}")
    else:
        out.warn(
            f"cron and systemd will not be able to read the token from "
            f"{result.token_location}: {cron.detail}"
        )
    out.info(f"hint: {cron.hint}")
