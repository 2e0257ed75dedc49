"""Bounded retries with exponential backoff and full jitter, and the run's deadline.

The dropbox SDK retries HTTP 429 forever by default; every client we build
turns its own retries off and comes through here, bounded by attempts and by
a deadline, so a cron job always ends. The same `Deadline` bounds every request
of the run (the provider clips each request's timeouts to it and cuts requests
still in flight when it passes), so when a request fails because the budget ran
out, the error says so instead of "connection lost".
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
            raise errors.RetryAfterExceedsBudget(
                f"gave up {what}: {self.service} asked to wait {exc.retry_after:.0f} s "
                f"(Retry-After) but only {max(0.0, left):.0f} s of the time budget "
                f"({budget}) remain",
                "raise --max-duration or run later; an interrupted upload resumes where it stopped",
            )
        raise errors.MaxDurationExceeded(
            f"gave up {what} after {attempt} attempt(s): {exc.message}; the next try would "
            f"start after the time budget of this run ({budget}) ends",
            self.deadline.hint,
        )

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
                    raise errors.RetryExhausted(
                        f"gave up {what} after {attempt} attempts: {exc.message}",
                        "check the network connection and run again; an interrupted upload "
                        "resumes where it stopped",
                    ) from None
                wait = self.delay(attempt - 1, exc.retry_after)
                self._check_wait(wait, exc, what, attempt)
                self._wait(wait)
