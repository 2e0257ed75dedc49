"""Bounded retries with exponential backoff and full jitter, and the run's deadline.

The dropbox SDK retries HTTP 429 forever by default; every client we build
turns its own retries off and comes through here, bounded by attempts and by
a deadline, so a cron job always ends. The same `Deadline` bounds every request
of the run (the provider clips each request's timeouts to it and cuts requests
still in flight when it passes), so when a request fails because the budget ran
out, the error says so instead of "connection lost".

Waits are visible: before each pause the policy hands its `on_wait` callback a `Wait`
(why, how long, which attempt), again as the pause counts down, and once more when it
ends; the CLI shows it (a status line on a terminal, one plain line otherwise). Each
give-up names its cause (rate limit, server error, network, time budget) with a hint
that fits it.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from . import errors

T = TypeVar("T")
BUDGET_HINT = (
    "run again later (an interrupted upload resumes where it stopped), or raise "
    "--max-duration (upload.max_duration)"
)


@dataclass(frozen=True)
class Deadline:
    """When the run's time budget ends (a `time.monotonic()` value) and that budget as the
    user wrote it, for messages ("10s", "6h")."""

    at: float
    budget: str
    option: str = "--max-duration"  # what sets it, for messages

    @property
    def named(self) -> str:
        """The budget as messages name it: "--max-duration 10s", "the 60s check limit"."""
        return f"{self.option} {self.budget}" if self.option.startswith("-") else self.option

    @classmethod
    def after(
        cls,
        seconds: float,
        budget: str | None = None,
        start: float | None = None,
        *,
        limit: str | None = None,
    ) -> Deadline:
        """`limit`: a fixed limit's name for messages, instead of --max-duration's."""
        begin = time.monotonic() if start is None else start
        return cls(begin + seconds, budget or f"{seconds:g}s", limit or "--max-duration")

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    @property
    def hint(self) -> str:
        if self.option.startswith("-"):
            return BUDGET_HINT
        return "the server answers too slowly: check the network connection, then run again"

    def used_up(self, what: str) -> errors.MaxDurationExceeded:
        return errors.MaxDurationExceeded(
            f"gave up {what}: the time budget of this run ({self.named}) is used up",
            self.hint,
        )


def seconds_text(seconds: float) -> str:
    """A wait for humans: "5 s", "0.4 s", "2 min 5 s"."""
    if seconds < 0.95:  # at or above it, .1f would say "1.0 s" next to the "1 s" of 1.0
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 600:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


@dataclass(frozen=True)
class Wait:
    """One visible wait: a retry's backoff (`attempt` of `max_attempts` comes next) or
    another wait (the run lock: no attempts). `remaining` counts down from `delay`;
    `ended` says the wait is over (a status line is cleared)."""

    reason: str  # "rate limited by Dropbox", "waiting for the run holding the lock (...)"
    delay: float  # seconds, in all
    attempt: int | None = None
    max_attempts: int | None = None
    remaining: float | None = None  # None: the whole delay is ahead
    ended: bool = False

    @property
    def first(self) -> bool:
        """The wait's first report (a non-terminal output prints only this one)."""
        return self.remaining is None and not self.ended

    def text(self) -> str:
        left = self.delay if self.remaining is None else self.remaining
        if self.attempt is None:
            return f"{self.reason}, for up to {seconds_text(left)}"
        return (
            f"{self.reason}, retrying in {seconds_text(left)} "
            f"(attempt {self.attempt} of {self.max_attempts})"
        )


WaitCallback = Callable[[Wait], None]
RATE_LIMIT_CODES = frozenset({"too_many_requests", "too_many_write_operations", "rate_limit"})


def cause_of(exc: errors.Transient) -> str:
    """Why a retryable failure happened: "rate_limit", "server" or "network"."""
    if exc.code in RATE_LIMIT_CODES or exc.code.startswith("too_many"):
        return "rate_limit"
    if exc.code == "server_error":
        return "server"
    return "network"


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    deadline: Deadline | None = None  # the run's time budget; None: unbounded
    sleep: Callable[[float], None] | None = None  # None: wait on `stop` (tests inject one)
    stop: threading.Event = field(default_factory=threading.Event)  # set on Ctrl-C/SIGTERM
    rng: random.Random = field(default_factory=random.Random)
    service: str = "the server"  # who sends Retry-After, for messages
    # the server refused the connection's token (revoked, app removed): the one hook that
    # lets core mark the connection needs_relink, from whichever thread saw it
    on_refused: Callable[[], None] | None = None
    # a wait is about to start, counts down or ended: the CLI shows it (never raises)
    on_wait: WaitCallback | None = None
    status_url: str | None = None  # where the service reports outages, for hints

    @classmethod
    def for_duration(
        cls,
        max_attempts: int,
        max_duration_s: float | None,
        *,
        budget: str | None = None,
        start: float | None = None,
    ) -> RetryPolicy:
        """`start`: when the run began (`time.monotonic()`); the budget counts from there."""
        deadline = None
        if max_duration_s is not None and math.isfinite(max_duration_s):
            deadline = Deadline.after(max_duration_s, budget, start)
        return cls(max_attempts=max_attempts, deadline=deadline)

    @classmethod
    def bounded(cls, max_attempts: int, seconds: float, limit: str) -> RetryPolicy:
        """A policy for one quick check (status, doctor, unlink, linking): it ends within
        `seconds` whatever the server does; `limit` names it in messages."""
        return cls(max_attempts=max_attempts, deadline=Deadline.after(seconds, limit=limit))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        return max(backoff, retry_after or 0.0)

    def check_deadline(self, what: str = "") -> None:
        if self.deadline is not None and self.deadline.expired():
            raise self.deadline.used_up(what or "the run")

    def _check_wait(self, wait: float, exc: errors.Transient, what: str, attempt: int) -> None:
        """Fail now when the wait before the next try would end after the deadline."""
        if self.deadline is None:
            return
        left = self.deadline.remaining()
        if wait <= left:
            return
        budget = self.deadline.named
        if exc.retry_after is not None and exc.retry_after > left:
            after = f"{exc.retry_after:.0f} s"  # as the header says it
            raise errors.RetryAfterExceedsBudget(
                f"gave up {what}: {self.service} asked to wait {after} (Retry-After) but "
                f"only {seconds_text(max(0.0, left))} of the time budget ({budget}) remain",
                self._retry_after_hint(after),
            )
        raise errors.MaxDurationExceeded(
            f"gave up {what} after {attempt} attempt(s): {exc.message}; the next try would "
            f"start after the time budget of this run ({budget}) ends",
            self.deadline.hint,
        )

    def _retry_after_hint(self, after: str) -> str:
        option = self.deadline.option if self.deadline is not None else ""
        if option.startswith("-"):
            return (
                f"run again in {after} or later, or raise {option} above it; an "
                "interrupted upload resumes where it stopped"
            )
        return f"{self.service} is limiting requests: run again in {after} or later"

    def gave_up(self, exc: errors.Transient, what: str, attempt: int) -> errors.RetryExhausted:
        """The last retry failed: say why, with a hint that fits the cause."""
        resume = "; an interrupted upload resumes where it stopped"
        head = f"gave up {what} after {attempt} attempts"
        cause = cause_of(exc)
        if cause == "rate_limit":
            return errors.RetryExhausted(
                f"{head}: still rate limited by {self.service} ({exc.message})",
                f"{self.service} limits how often an app may call it: wait a few minutes, "
                f"then run again{resume}",
            )
        if cause == "server":
            where = self.status_url or f"{self.service}'s status page"
            return errors.RetryExhausted(
                f"{head}: {self.service} kept answering with a server error ({exc.message})",
                f"the trouble is on {self.service}'s side: check {where}, then run again "
                f"later{resume}",
            )
        return errors.RetryExhausted(
            f"{head}: {exc.message}",
            f"check the network connection (can this machine reach {self.service}?), then "
            f"run again{resume}",
        )

    def reason(self, exc: errors.Transient) -> str:
        """A retry's wait, for the status line."""
        cause = cause_of(exc)
        if cause == "rate_limit":
            return f"rate limited by {self.service}"
        if cause == "server":
            return f"server error at {self.service}"
        if exc.code == "stalled":  # connected, then no answer within the read timeout
            return f"no answer from {self.service}"
        return f"connection to {self.service} failed"

    def report(self, wait: Wait) -> None:
        if self.on_wait is not None:
            self.on_wait(wait)

    def wait_visibly(self, wait: Wait) -> None:
        """Wait `wait.delay` seconds, reporting the start, each second and the end."""
        if self.on_wait is None:
            self._wait(wait.delay)
            return
        self.report(wait)
        left = wait.delay
        try:
            while left > 0:
                step = min(1.0, left)
                self._wait(step)
                left -= step
                if left > 0:
                    self.report(replace(wait, remaining=left))
        finally:
            self.report(replace(wait, remaining=0.0, ended=True))

    def _stopped(self) -> None:
        if self.stop.is_set():
            raise errors.Cancelled("interrupted", "run the command again to resume")

    def _wait(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        elif self.stop.wait(seconds):
            self._stopped()

    def pause(self, seconds: float, what: str = "waiting") -> None:
        """Wait between polls within the policy: Ctrl-C and the deadline end it."""
        self.check_deadline(what)
        self._wait(min(seconds, max(0.0, self.deadline.remaining())) if self.deadline else seconds)

    def call(self, func: Callable[[], T], what: str) -> T:
        """Run `func`, retrying `errors.Transient` failures within the bounds."""
        attempt = 0
        while True:
            self._stopped()
            self.check_deadline(what)
            try:
                return func()
            except errors.NeedsRelink:
                if self.on_refused is not None:
                    self.on_refused()
                raise
            except errors.Transient as exc:
                # a request cut because the budget ran out: say that, not "connection lost"
                self.check_deadline(what)
                attempt += 1
                if attempt >= self.max_attempts:
                    raise self.gave_up(exc, what, attempt) from None
                wait = self.delay(attempt - 1, exc.retry_after)
                self._check_wait(wait, exc, what, attempt)
                self.wait_visibly(Wait(self.reason(exc), wait, attempt + 1, self.max_attempts))
