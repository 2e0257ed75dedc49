"""Can cron read the token? A probe run in an environment like cron's.

Linked over SSH, a token lands in a session-only keyring (a Secret Service reached
through this session's D-Bus) that a cron job or a system service, which has no
D-Bus session, cannot open. `check` proves or disproves, right after a link and
in `doctor`, that the stored token can be read back from such an environment:
for the keyring it runs this module in a subprocess of the same interpreter with
only HOME, USER, PATH and LANG (no DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR,
PYTHON_KEYRING_BACKEND or FERMENTRACK_BACKUP_*), so what the probe needs comes as
argv. The probe opens the keyring the way the tool does (KeyringStore) and prints
only an HMAC of what it read, keyed with a salt the parent chose for this run, so
the token never travels on argv, stdout or stderr. Every wait is bounded.
The token file needs no subprocess: cron runs as the same user, so a 0600 file
owned by that user and holding the token is readable. Never imports dropbox.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import errors
from .tokens import SERVICE_NAME, FileStore, KeyringStore, TokenStore, redact

PROBE_MODULE = "fermentrack_backup_cli.auth.reachability"
CRON_ENV_KEYS = ("HOME", "USER", "PATH", "LANG")
STARTUP_MARGIN = 20.0
"""Seconds allowed on top of the keyring timeout for the probe's interpreter to start
(a Raspberry Pi Zero takes seconds to import keyring)."""
CRON_LIKE = "in an environment like cron's (only HOME, USER, PATH and LANG)"

CRON_HINT = (
    "run the nightly upload from a session where the Secret Service is unlocked (e.g. a "
    "systemd --user unit in a session with the keyring), configure a keyring backend cron "
    "can reach in ~/.config/python_keyring/keyringrc.cfg, or run `fermentrack-backup config "
    "set token_store file` and {again} again"
)

RELINK_HINT = "run {again} again"
AGAIN = "the link command"  # callers name it: `fermentrack-backup link PROVIDER`


@dataclass(frozen=True)
class Reachability:
    """Whether a cron job could read the token: True, False, or None (could not check)."""

    reachable: bool | None
    detail: str
    hint: str = CRON_HINT


def check(
    store: TokenStore, conn_id: str, token: str, *, again: str = AGAIN
) -> Reachability | None:
    """Can a process like cron read `token` for `conn_id` from `store`? None: no such check.
    `again` is the command that links the connection again, for the hint."""
    if isinstance(store, KeyringStore):
        found = keyring_reachable(store, conn_id, token)
    elif isinstance(store, FileStore):
        found = file_reachable(store, conn_id, token)
    else:
        return None
    return replace(found, hint=found.hint.replace("{again}", again))


def cron_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {key: env[key] for key in CRON_ENV_KEYS if key in env}


def digest(salt: str, token: str) -> str:
    return hmac.new(salt.encode("ascii"), token.encode("utf-8"), hashlib.sha256).hexdigest()


def file_reachable(store: FileStore, conn_id: str, token: str) -> Reachability:
    try:
        # get() refuses a file that is not 0600 or is owned by someone else
        found = store.get(conn_id)
    except errors.BackupError as exc:
        return Reachability(False, exc.message, exc.hint or RELINK_HINT)
    if found is None:
        return Reachability(False, f"the token file {store.path} has no token for it", RELINK_HINT)
    if not hmac.compare_digest(found, token):
        return Reachability(
            False, f"the token file {store.path} holds another token for it", RELINK_HINT
        )
    return Reachability(True, f"the token file {store.path} is 0600 and yours")


def keyring_reachable(store: KeyringStore, conn_id: str, token: str) -> Reachability:
    salt = secrets.token_hex(16)
    argv = [
        sys.executable,
        "-B",  # a probe must not write into site-packages
        "-m",
        PROBE_MODULE,
        "--service",
        store.service,
        "--timeout",
        repr(store.timeout),
        "--salt",
        salt,
        "--",
        conn_id,
    ]
    env = cron_env()
    home = env.get("HOME", "")
    limit = store.timeout + STARTUP_MARGIN
    try:
        code, out, err = _run(argv, env, home if home and Path(home).is_dir() else "/", limit)
    except subprocess.TimeoutExpired:
        return Reachability(False, f"{CRON_LIKE}, the keyring did not answer within {limit:g} s")
    except OSError as exc:
        return Reachability(None, f"could not start {sys.executable} ({exc.strerror or exc})")
    # The probe never prints the token, but a careless backend's message might.
    answer = _answer(redact(out, token))
    if code != 0 or answer is None:
        lines = redact(err, token).strip().splitlines()
        why = lines[-1][:200] if lines else f"exit status {code}"
        return Reachability(None, f"the check could not run {CRON_LIKE}: {why}")
    return _verdict(answer, salt, token)


def _run(argv: list[str], env: dict[str, str], cwd: str, limit: float) -> tuple[int, str, str]:
    """Run the probe in its own process group, killed whole when it outlives `limit`."""
    proc = subprocess.Popen(  # noqa: S603 (argv is this interpreter and this module)
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except BaseException:
        # Not communicate() again: a grandchild could hold the pipes open forever.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        raise
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _answer(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("probe") == 1:
            return value
    return None


def _verdict(answer: dict[str, Any], salt: str, token: str) -> Reachability:
    if answer.get("error"):
        return Reachability(False, f"{CRON_LIKE}, {answer['error']}")
    backend = answer.get("backend") or "?"
    got = answer.get("digest")
    if not isinstance(got, str):
        return Reachability(False, f"{CRON_LIKE}, the keyring ({backend}) has no token for it")
    if not hmac.compare_digest(got, digest(salt, token)):
        return Reachability(False, f"{CRON_LIKE}, the keyring ({backend}) holds another token")
    return Reachability(True, f"read back {CRON_LIKE} from the keyring ({backend})")


# the probe (runs in the child) -------------------------------------------------------


def probe(service: str, conn_id: str, salt: str, timeout: float) -> dict[str, Any]:
    """Open the keyring as the tool does; report its name and an HMAC of the entry."""
    store = KeyringStore(timeout=timeout, service=service)
    try:
        backend = store.backend_name()
        token = store.get(conn_id)
    except errors.BackupError as exc:
        return {"probe": 1, "error": exc.message}
    return {
        "probe": 1,
        "backend": backend,
        "digest": None if token is None else digest(salt, token),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROBE_MODULE, description=probe.__doc__)
    parser.add_argument("--service", default=SERVICE_NAME)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--salt", required=True)
    parser.add_argument("conn_id")
    args = parser.parse_args(argv)
    print(json.dumps(probe(args.service, args.conn_id, args.salt, args.timeout)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
