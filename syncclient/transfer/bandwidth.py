"""A token bucket shared by every transfer thread: ``rate`` bytes per second on average,
bursts up to ``burst`` bytes. The rate can change while running (per-window limits)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from syncclient.transfer import StopRequestedError


class TokenBucket:
    """``take(n)`` blocks until ``n`` bytes may be sent. ``rate`` 0 means unlimited."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate / 4, 64 * 1024))
        self._tokens = self.burst
        self._stamp = clock()

    def set_rate(self, rate: float) -> None:
        """Change the rate (0 = unlimited)."""
        with self._lock:
            self.rate = float(rate)
            self.burst = max(self.rate / 4, 64 * 1024)
            self._tokens = min(self._tokens, self.burst)

    def reserve(self, n: int) -> float:
        """Take ``n`` tokens (the balance may go negative) and return how long to wait."""
        with self._lock:
            if self.rate <= 0:
                return 0.0
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= n
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self, n: int, stop: threading.Event | None = None) -> None:
        """Block until ``n`` bytes may go; StopRequestedError if ``stop`` is set meanwhile."""
        wait = self.reserve(n)
        if wait <= 0:
            return
        if stop is None:
            time.sleep(wait)
        elif stop.wait(wait):
            raise StopRequestedError("stopped while throttled")
