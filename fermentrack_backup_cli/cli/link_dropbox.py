"""`link dropbox`: browser mode, headless paste, and the two-step --print-url / --code."""

from __future__ import annotations

import getpass
import os
import sys
from typing import TYPE_CHECKING

import typer

from .. import errors
from ..output import Output
from .common import (
    config_option,
    get_app,
    handle_errors,
    label_option,
    refuse_together,
    seconds_option,
    setup,
    stdin_is_tty,
)

if TYPE_CHECKING:
    from ..linking import LinkResult, LinkStart


def register(link_app: typer.Typer) -> None:
    link_app.command("dropbox")(link_dropbox)


def headless(environ: dict[str, str] | None = None) -> bool:
    """No display to open a browser on (an SSH session to a Pi) and no BROWSER set."""
    env = os.environ if environ is None else environ
    if sys.platform in ("darwin", "win32") or env.get("BROWSER"):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


@handle_errors
def link_dropbox(
    label: str | None = typer.Option(
        None,
        "--label",
        metavar="NAME",
        parser=label_option,
        help="Name for the connection (at most 64 chars).",
    ),
    browser: bool | None = typer.Option(
        None,
        "--browser/--no-browser",
        help="Open a browser and wait for it (default when a display or BROWSER exists), "
        "or print the address and paste the code.",
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
        help="Step 2 of 2: the code Dropbox showed, or the localhost address ('-' reads stdin).",
    ),
) -> None:
    """Link a Dropbox account (OAuth with PKCE; the refresh token goes to the token store).

    Example: fermentrack-backup link dropbox --no-browser
    """
    out = setup()
    refuse_together(**{"--print-url": print_url, "--code": code})
    refuse_together(**{"--print-url": print_url, "--browser": browser is True})
    refuse_together(**{"--code": code, "--browser": browser is True})
    from ..linking import Linker  # deferred: imports the dropbox SDK

    app = get_app()
    linker = Linker(app)
    port = port or int(app.settings.get("oauth.callback_port"))
    if code is not None:
        result = linker.complete_saved(_read_line(out) if code == "-" else code, label)
    elif print_url:
        _print_two_step(out, linker.begin_two_step(port))
        return
    elif browser is False or (browser is None and headless()):
        linker.check_store()
        start = linker.start(port)
        _announce_headless(out, start, port)
        result = linker.complete_pasted(start, _read_line(out), label)
    else:
        result = linker.in_browser(
            port, timeout, label, lambda s: _announce_browser(out, s), _open_browser
        )
    _report(out, result)


def _open_browser(url: str) -> bool:
    import webbrowser  # honours BROWSER

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def _announce_browser(out: Output, start: LinkStart) -> None:
    uri = start.pending.redirect_uri
    out.info(f"Redirect URI (register it exactly in the Dropbox app console): {uri}")
    out.info("Opening your browser. If it does not open, visit this address:")
    out.info(f"  {start.redirect_url}")
    out.info("Waiting for you to click Allow...")


def _announce_headless(out: Output, start: LinkStart, port: int) -> None:
    out.info("Open this address in a browser on any device and click Allow:")
    out.info(f"  {start.code_url}")
    out.info("then paste the code Dropbox shows.")
    out.info(
        f"Or, if the app has {start.pending.redirect_uri} registered, open this address and "
        "paste the localhost address your browser lands on (it will not load):"
    )
    out.info(f"  {start.redirect_url}")
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    if len(ssh) >= 3:
        out.info(
            f"Or tunnel the callback: reconnect with `ssh -L {port}:localhost:{port} "
            f"{getpass.getuser()}@{ssh[2]}` and run `fermentrack-backup link dropbox "
            f"--browser --port {port}`, then open the address it prints on your computer."
        )


def _print_two_step(out: Output, start: LinkStart) -> None:
    out.line(start.code_url)
    out.info("Open the address above, click Allow, then run:")
    out.info("  fermentrack-backup link dropbox --code CODE")
    out.info(f"within 10 minutes. Alternative address (redirects to {start.pending.redirect_uri};")
    out.info(f"pass the address it lands on to --code): {start.redirect_url}")


def _read_line(out: Output) -> str:
    if stdin_is_tty():
        text = str(typer.prompt("Code or address (input hidden)", hide_input=True))
    else:
        text = sys.stdin.readline()
    if not text.strip():
        raise errors.UsageError(
            "nothing was pasted", "run `fermentrack-backup link dropbox` again and paste the code"
        )
    return text


def _report(out: Output, result: LinkResult) -> None:
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
        out.line(f"linked Dropbox account {who} as connection {conn.label!r} ({conn.id[:8]})")
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
