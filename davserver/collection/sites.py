"""Site expectations: when a site (a user's home) counts as late, and its remembered state.

``late_since`` is pure. ``SiteStates`` keeps each site's last known health in SQLite and
reports transitions exactly once (``ok``/``unknown`` -> ``late``, ``late`` -> ``ok``), even
with several server processes checking at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from davserver.collection.config import WEEKDAYS, SiteSettings, WeeklySchedule
from davserver.collection.model import SiteHealth, SiteState
from providers.statedb import StateConnection

SCHEMA = """
CREATE TABLE IF NOT EXISTS site_states (
    "user" TEXT PRIMARY KEY,
    health TEXT NOT NULL,
    since REAL,
    watch_since REAL NOT NULL
);
"""


def describe(site: SiteSettings) -> str:
    """A short human description of the expectation (``every 24h``, ``mon-fri by 10:00``)."""
    if site.expect_every is not None:
        return "every " + _short_duration(site.expect_every)
    assert site.weekly is not None
    w = site.weekly
    return f"{','.join(w.days)} by {w.by.strftime('%H:%M')} {w.timezone}"


def _short_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def late_since(
    site: SiteSettings, now: float, last_arrival: float | None, watch_since: float
) -> float | None:
    """When the site became late (None: it is not late at ``now``).

    ``expect_every``: late once that long has passed since the last arrival (or since the
    site was first watched, if nothing ever arrived). ``weekly``: late after the most recent
    deadline that passed without an arrival on that day (days start at 00:00 local time).
    """
    if site.expect_every is not None:
        reference = last_arrival if last_arrival is not None else watch_since
        due = reference + site.expect_every
        return due if now > due else None
    assert site.weekly is not None
    deadline, day_start = _last_deadline(site.weekly, now)
    if deadline is None or deadline < watch_since:
        return None
    if last_arrival is not None and last_arrival >= day_start:
        return None
    return deadline


def _last_deadline(w: WeeklySchedule, now: float) -> tuple[float | None, float]:
    """The most recent deadline not after ``now`` within the past week, and its day's start."""
    zone = ZoneInfo(w.timezone)
    today = datetime.fromtimestamp(now, zone).date()
    wanted = {WEEKDAYS.index(d) for d in w.days}
    for back in range(8):
        day = today - timedelta(days=back)
        if day.weekday() not in wanted:
            continue
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        deadline = datetime.combine(day, w.by, tzinfo=zone)
        if deadline.timestamp() <= now:
            return deadline.timestamp(), start.timestamp()
    return None, 0.0


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a site's health that deserves a notice."""

    user: str
    health: SiteHealth
    since: float
    expectation: str


class SiteStates:
    """Stored health per site; ``update`` returns the transitions to announce."""

    @staticmethod
    def update(
        conn: StateConnection,
        sites: dict[str, SiteSettings],
        last_arrivals: dict[str, float],
        now: float,
    ) -> list[Transition]:
        """Re-evaluate every site inside the caller's ``BEGIN IMMEDIATE`` transaction."""
        out: list[Transition] = []
        for user, site in sorted(sites.items()):
            row = conn.execute(
                'SELECT health, since, watch_since FROM site_states WHERE "user" = ?', (user,)
            ).fetchone()
            if row is None:
                conn.execute(
                    'INSERT INTO site_states ("user", health, since, watch_since)'
                    " VALUES (?, 'unknown', NULL, ?)",
                    (user, now),
                )
                row = ("unknown", None, now)
            old, watch = str(row[0]), float(row[2])
            last = last_arrivals.get(user)
            late = late_since(site, now, last, watch)
            if late is not None and old != "late":
                new, since = "late", late
            elif late is None and (old == "late" or (last is not None and old == "unknown")):
                new, since = "ok", last or now
            else:
                continue
            conn.execute(
                'UPDATE site_states SET health = ?, since = ? WHERE "user" = ?', (new, since, user)
            )
            if not (old == "unknown" and new == "ok"):
                out.append(Transition(user, new, since, describe(site)))  # type: ignore[arg-type]
        return out

    @staticmethod
    def read(
        conn: StateConnection,
        sites: dict[str, SiteSettings],
        last_arrivals: dict[str, float],
        now: float,
    ) -> dict[str, SiteState]:
        """Every configured site's state as of ``now`` (computed, not the stored flag, so a
        page never shows stale health between two checks)."""
        stored = {
            str(u): float(w)
            for u, w in conn.execute('SELECT "user", watch_since FROM site_states').fetchall()
        }
        out: dict[str, SiteState] = {}
        for user, site in sites.items():
            last = last_arrivals.get(user)
            late = late_since(site, now, last, stored.get(user, now))
            health: SiteHealth
            if late is not None:
                health, since = "late", late
            elif last is not None:
                health, since = "ok", last
            else:
                health, since = "unknown", None
            out[user] = SiteState(user, health, since, describe(site))
        return out
