"""Weekly sync windows, e.g. ``Mon-Fri 19:00-07:00`` or ``Sat,Sun 00:00-24:00 bw=2M``.
Pure: every function takes the (local, naive) time it reasons about.

A window starts on each listed day at the start time and lasts until the end time, on the
next day if the end is not after the start (so ``Fri 19:00-07:00`` runs into Saturday
morning). ``daily`` means every day. An optional ``bw=RATE`` sets the bandwidth limit while
the window is open. Overlapping or touching windows are one continuous window.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from syncclient import UsageError
from syncclient.units import parse_size

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
MAX_CHAIN = 32


@dataclass(frozen=True, slots=True)
class Window:
    """Days (0 = Monday), start minute of day, length in minutes, bandwidth (0 = none)."""

    days: frozenset[int]
    start_min: int
    length_min: int
    bwlimit: int = 0
    text: str = ""

    def occurrences(self, around: datetime) -> list[tuple[datetime, datetime]]:
        """(start, end) of the occurrences starting from the day before ``around`` to a
        week after it."""
        base = around.replace(hour=0, minute=0, second=0, microsecond=0)
        out = []
        for offset in range(-1, 8):
            day = base + timedelta(days=offset)
            if day.weekday() in self.days:
                start = day + timedelta(minutes=self.start_min)
                out.append((start, start + timedelta(minutes=self.length_min)))
        return out


def _parse_days(text: str) -> frozenset[int]:
    if text.lower() in ("daily", "*", "every"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        try:
            a = DAYS.index(first[:3])
            b = DAYS.index(last[:3]) if last else a
        except ValueError:
            raise UsageError(f"window days {text!r}: use Mon..Sun, ranges and commas") from None
        i = a
        for _ in range(7):
            days.add(i)
            if i == b:
                break
            i = (i + 1) % 7
    return frozenset(days)


def parse_window(text: str) -> Window:
    """Parse ``DAYS HH:MM-HH:MM [bw=RATE]``. Raises UsageError with the reason."""
    parts = text.split()
    if len(parts) not in (2, 3):
        raise UsageError(f"window {text!r}: expected 'DAYS HH:MM-HH:MM [bw=RATE]'")
    days = _parse_days(parts[0])
    m = _TIME.match(parts[1])
    if not m:
        raise UsageError(f"window {text!r}: times must look like 19:00-07:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise UsageError(f"window {text!r}: no such time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    length = end - start if end > start else 24 * 60 - start + end
    bw = 0
    if len(parts) == 3:
        key, _, value = parts[2].partition("=")
        if key.lower() != "bw" or not value:
            raise UsageError(f"window {text!r}: the optional third part is bw=RATE")
        bw = parse_size(value)
    return Window(days, start, length, bw, text)


def active(windows: Sequence[Window], now: datetime) -> tuple[datetime, int] | None:
    """If ``now`` is inside a window: (when the continuous open period ends, the bandwidth
    limit of the window ``now`` is in; 0 = none). None if outside every window."""
    current = [(s, e, w) for w in windows for s, e in w.occurrences(now) if s <= now < e]
    if not current:
        return None
    bw = min((w.bwlimit for _, _, w in current if w.bwlimit), default=0)
    end = max(e for _, e, _ in current)
    for _ in range(MAX_CHAIN):
        later = [e for w in windows for s, e in w.occurrences(end) if s <= end < e]
        if not later or max(later) <= end:
            break
        end = max(later)
    return end, bw


def next_start(windows: Sequence[Window], now: datetime) -> datetime | None:
    """When the next window opens after ``now`` (``now`` itself if one is open)."""
    if active(windows, now) is not None:
        return now
    starts = [s for w in windows for s, _ in w.occurrences(now) if s > now]
    return min(starts, default=None)
