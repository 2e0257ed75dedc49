"""Bounded retries with exponential backoff and full jitter.

The dropbox SDK retries HTTP 429 forever by default; every client we build
turns its own retries off and comes through here, bounded by attempts and by
a deadline, so a cron job always ends.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from . import errors

T = TypeVar("T")


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    deadline: float | None = None  # time.monotonic() value after which we give up
    sleep: Callable[[float], None] | None = None  # None: wait on `stop` (tests inject one)
    stop: threading.Event = field(default_factory=threading.Event)  # set on Ctrl-C/SIGTERM
    rng: random.Random = field(default_factory=random.Random)
    retries: int = 0  # how many retries this policy has allowed so far (for reports)

    @classmethod
    def for_duration(cls, max_attempts: int, max_duration_s: float | None) -> RetryPolicy:
        deadline = None if max_duration_s is None else time.monotonic() + max_duration_s
        return cls(max_attempts=max_attempts, deadline=deadline)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        return max(backoff, retry_after or 0.0)

    def check_deadline(self, upcoming_wait: float = 0.0) -> None:
        if self.deadline is not None and time.monotonic() + upcoming_wait > self.deadline:
            raise errors.RetryExhausted(
                "gave up: the time budget for this run (--max-duration) is used up",
                "run again later (an interrupted upload resumes), or raise --max-duration",
            )

    def _stopped(self) -> None:
        if self.stop.is_set():
            raise errors.Cancelled("interrupted", "run the command again to resume")

    def _wait(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        elif self.stop.wait(seconds):
            self._stopped()

    def call(self, func: Callable[[], T], what: str) -> T:
        """Run `func`, retrying `errors.Transient` failures within the bounds."""
        attempt = 0
        while True:
            self._stopped()
            self.check_deadline()
            try:
                return func()
            except errors.Transient as exc:
                attempt += 1
                if attempt >= self.max_attempts:
                    raise errors.RetryExhausted(
                        f"gave up {what} after {attempt} attempts: {exc.message}",
                        "check the network connection and run again; an interrupted upload "
                        "resumes where it stopped",
                    ) from None
                wait = self.delay(attempt - 1, exc.retry_after)
                self.check_deadline(wait)
                self.retries += 1
                self._wait(wait)
