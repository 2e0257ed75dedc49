"""Run notifications: Healthchecks-style pings, or an ntfy-style message.

`healthchecks` (the default): GET `URL/start` when the run starts; at the end a POST
to `URL` (exit status 0) or `URL/<exit status>` (anything else), its body the last
lines of the run's output (at most 10 KiB): Healthchecks' documented convention,
which also shows the output in its event log. `ntfy`: one POST to `URL` at the end,
its body the same lines (at most 4 KiB, ntfy's message limit), with a Title,
Priority and Tags header saying whether the run failed.

stdlib urllib only, a short timeout, and never an exception: a monitoring service
being down must not fail a backup. Failed pings are collected in `problems` so the
CLI can mention them. The output never holds a secret, so neither does a body.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from . import __version__, errors

TIMEOUT_S = 10.0
STYLES = ("healthchecks", "ntfy")
BODY_LIMIT = {"healthchecks": 10 * 1024, "ntfy": 4 * 1024}


def check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.InvalidValue(
            f"--notify-url must be an http(s) URL, not {url!r}",
            "for example https://hc-ping.com/<uuid> or https://ntfy.sh/<topic>",
        )
    return url


def with_suffix(url: str, suffix: str) -> str:
    """`url` with `/suffix` appended to its path (the query string stays at the end)."""
    if not suffix:
        return url
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix))


def tail(lines: Iterable[str], limit: int) -> str:
    """The last whole lines of `lines` that fit in `limit` bytes of UTF-8 (a single line
    longer than that keeps its end)."""
    kept: list[str] = []
    size = 0
    for line in reversed(list(lines)):
        encoded = len(line.encode()) + 1
        if size + encoded > limit:
            if not kept:
                end = line.encode()[-(limit - 1) :].decode(errors="ignore")
                kept.append(end)
            break
        kept.append(line)
        size += encoded
    return "".join(f"{line}\n" for line in reversed(kept))


class Notifier:
    def __init__(self, url: str, style: str = "healthchecks", timeout: float = TIMEOUT_S) -> None:
        if style not in STYLES:
            raise errors.InvalidValue(
                f"unknown notify style {style!r}", "use one of: " + ", ".join(STYLES)
            )
        self.url = check_url(url)
        self.style = style
        self.timeout = timeout
        self.problems: list[str] = []

    def _send(
        self, what: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bool:
        request = urllib.request.Request(  # noqa: S310  # scheme checked in check_url
            url,
            data=body,
            method="GET" if body is None else "POST",
            headers={"User-Agent": f"fermentrack-backup/{__version__}", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read(1024)
            return True
        except Exception as exc:  # URLError, timeouts, resets, a garbled reply
            # (http.client.HTTPException is neither OSError nor ValueError): never fail a backup
            reason = getattr(exc, "reason", None) or type(exc).__name__
            self.problems.append(f"could not send the {what} notification: {reason}")
            return False

    def start(self) -> None:
        if self.style == "healthchecks":  # ntfy: a message per run is enough
            self._send("start", with_suffix(self.url, "start"))

    def finish(self, exit_code: int, lines: Sequence[str], title: str) -> bool:
        """The end of the run: its exit status and the last lines of its output."""
        body = tail(lines, BODY_LIMIT[self.style]).encode()
        plain = {"Content-Type": "text/plain; charset=utf-8"}
        what = "success" if exit_code == 0 else "failure"
        if self.style == "healthchecks":
            url = with_suffix(self.url, "" if exit_code == 0 else str(exit_code))
            return self._send(what, url, body, plain)
        headers = {
            **plain,
            "Title": title,
            "Priority": "default" if exit_code == 0 else "high",
            "Tags": "white_check_mark" if exit_code == 0 else "warning",
        }
        return self._send(what, self.url, body, headers)


class Run:
    """What the notification at the end reports: set `finished(...)` when the run is
    done; a run stopped by an exception is reported with that exception's exit code."""

    def __init__(self, notifier: Notifier | None, command: str) -> None:
        self.notifier = notifier
        self.command = command
        self.exit_code: int | None = None
        self.summary: str | None = None
        self.notes: list[str] = []

    @property
    def problems(self) -> list[str]:
        return self.notifier.problems if self.notifier is not None else []

    def finished(self, exit_code: int, summary: str) -> None:
        self.exit_code = exit_code
        self.summary = summary

    def stopped(self, exc: BaseException) -> None:
        if isinstance(exc, errors.BackupError):
            self.exit_code = exc.exit_code
            self.notes = [f"error: {exc.message}", *([f"hint: {exc.hint}"] if exc.hint else [])]
        elif isinstance(exc, KeyboardInterrupt):
            self.exit_code = errors.ExitCode.CANCELLED
            self.notes = ["error: interrupted"]
        else:
            code = getattr(exc, "exit_code", None)
            self.exit_code = code if isinstance(code, int) else errors.ExitCode.FAILURE
            self.notes = [f"error: {type(exc).__name__}"] if self.exit_code else []

    def title(self, code: int) -> str:
        verdict = "succeeded" if code == 0 else f"failed (exit {code})"
        return f"fermentrack-backup {self.command} {verdict}"


@contextmanager
def pinging(
    url: str | None, style: str = "healthchecks", output: Sequence[str] = (), command: str = "run"
) -> Iterator[Run]:
    """Notify at the start (Healthchecks) and at the end with the exit status and the
    tail of `output` (the run's output lines, read when the run ends)."""
    notifier = Notifier(url, style) if url else None
    run = Run(notifier, command)
    if notifier is not None:
        notifier.start()
    try:
        yield run
    except BaseException as exc:
        run.stopped(exc)
        raise
    finally:
        if notifier is not None:
            code = errors.ExitCode.FAILURE if run.exit_code is None else run.exit_code
            lines = [*output, *run.notes, *([run.summary] if run.summary else [])]
            notifier.finish(code, lines, run.title(code))
