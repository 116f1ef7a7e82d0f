"""Retries with exponential backoff and jitter; Retry-After (429/503) is honoured.

Which errors are worth a retry is data on the error (``TransportError.transient``; the
status codes are ``transports.base.RETRYABLE_STATUS``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from syncclient.transfer import StopRequestedError
from syncclient.transports import TransportError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all; delays grow ``base * 2**n`` up to ``cap`` with jitter;
    a server's Retry-After is honoured up to ``max_retry_after`` seconds."""

    attempts: int = 8
    base: float = 1.0
    cap: float = 60.0
    max_retry_after: float = 900.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): half the
        exponential step plus a random half ("equal jitter"), at least Retry-After."""
        step = min(self.cap, self.base * float(2 ** (attempt - 1)))
        wait = step / 2 + rng.uniform(0, step / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


OnRetry = Callable[[int, TransportError, float], None]


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    stop: threading.Event,
    on_retry: OnRetry | None = None,
    rng: random.Random | None = None,
    deadline: float | None = None,
) -> T:
    """Call ``fn`` until it succeeds, a permanent error occurs or attempts run out.

    ``deadline`` (``time.monotonic()`` seconds): no wait may end after it; the error is
    raised instead. Raises the last TransportError, or StopRequestedError if ``stop`` is set
    while waiting.
    """
    rng = rng or random.Random()
    attempt = 1
    while True:
        if stop.is_set():
            raise StopRequestedError("stopped")
        try:
            return fn()
        except TransportError as exc:
            if not exc.transient or attempt >= policy.attempts:
                raise
            wait = policy.delay(attempt, exc.retry_after, rng)
            if deadline is not None and time.monotonic() + wait > deadline:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            if stop.wait(wait):
                raise StopRequestedError("stopped") from exc
            attempt += 1
