"""Run budgets (bytes, duration) and cut-off modes.

- ``hard``: stop the moment the budget is spent, mid-file; chunk sessions stay resumable.
- ``soft``: start no new file once the budget is spent; files in flight finish.
- ``cautious``: start no file that cannot finish inside the budget, judged by its size, the
  bytes of the files still in flight (they share the link) and the transfer rate measured
  so far (or by earlier runs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Cutoff(StrEnum):
    """Cut-off modes (see the module docstring)."""

    HARD = "hard"
    SOFT = "soft"
    CAUTIOUS = "cautious"


MIN_RATE_SAMPLE_S = 2.0


@dataclass
class Budget:
    """Limits for one run; ``stop`` is set when a hard cut-off fires."""

    max_bytes: int | None = None
    max_duration: float | None = None
    cutoff: Cutoff = Cutoff.SOFT
    rate_hint: float | None = None
    clock: Callable[[], float] = time.monotonic
    stop: threading.Event = field(default_factory=threading.Event)
    wire_bytes: int = 0
    reserved: int = 0
    ended: str = ""

    def __post_init__(self) -> None:
        self.started = self.clock()
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self.clock() - self.started

    def rate(self) -> float | None:
        """Measured bytes/s of this run, else the hint from earlier runs, else None."""
        elapsed = self.elapsed()
        if elapsed >= MIN_RATE_SAMPLE_S and self.wire_bytes > 0:
            return self.wire_bytes / elapsed
        return self.rate_hint

    def charge(self, n: int) -> None:
        """Count ``n`` bytes sent; fires the hard cut-off when a limit is reached."""
        with self._lock:
            self.wire_bytes += n
        if self.cutoff is Cutoff.HARD:
            self.check()

    def check(self) -> None:
        """Fire the hard cut-off if a limit is reached (called per block and by a timer)."""
        if self.cutoff is not Cutoff.HARD or self.stop.is_set():
            return
        if self.max_bytes is not None and self.wire_bytes >= self.max_bytes:
            self._end("byte budget reached")
            self.stop.set()
        elif self.max_duration is not None and self.elapsed() >= self.max_duration:
            self._end("time budget reached")
            self.stop.set()

    def _end(self, why: str) -> None:
        if not self.ended or why.endswith("reached"):
            self.ended = why

    def may_start(self, size: int) -> bool:
        """Whether a file of ``size`` bytes (still to send) may start now; if not, ``ended``
        says why. Reserves the bytes when it may."""
        with self._lock:
            if self.stop.is_set():
                return False
            over_time = self.max_duration is not None and self.elapsed() >= self.max_duration
            if over_time:
                self._end("time budget reached")
                return False
            if self.max_bytes is not None:
                spent = self.wire_bytes if self.cutoff is Cutoff.HARD else self.reserved
                if spent >= self.max_bytes:
                    self._end("byte budget reached")
                    return False
                if self.cutoff is Cutoff.CAUTIOUS and spent + size > self.max_bytes:
                    self._end("byte budget too small for the next file")
                    return False
            if self.cutoff is Cutoff.CAUTIOUS and self.max_duration is not None:
                rate = self.rate()
                left = self.max_duration - self.elapsed()
                in_flight = max(0, self.reserved - self.wire_bytes)  # started, not yet sent
                if rate and (in_flight + size) / rate > left:
                    self._end("time budget too short for the next file")
                    return False
            self.reserved += size
            return True
