"""An in-memory ``CollectionView`` for rendering tests of the operator pages and metrics.

It stores what a test gives it and answers the protocol's questions from that, with the
documented semantics (newest first, ``since`` filters, ``limit`` caps), so a page that asks
the wrong question shows the wrong data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from davserver.collection.model import Arrival, SiteState, Totals, TriggerFailure


@dataclass
class FakeCollection:
    """Arrivals, site states and trigger failures held in lists."""

    arrivals: list[Arrival] = field(default_factory=list)
    states: dict[str, SiteState] = field(default_factory=dict)
    failures: list[TriggerFailure] = field(default_factory=list)
    queue_depth: int = 0

    def add_arrival(
        self, user: str, path: str, size: int, when: float, sha256: str = "ab" * 32
    ) -> Arrival:
        """Record an arrival (ids count up) and return it."""
        arrival = Arrival(
            id=len(self.arrivals) + 1,
            time=when,
            user=user,
            path=path,
            size=size,
            md5="0" * 32,
            sha1="1" * 40,
            sha256=sha256,
            previous_sha256=None,
            protocol="put",
            client="127.0.0.1",
        )
        self.arrivals.append(arrival)
        return arrival

    def recent_arrivals(
        self, *, user: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[Arrival]:
        rows = [
            a
            for a in self.arrivals
            if (user is None or a.user == user) and (since is None or a.time >= since)
        ]
        return sorted(rows, key=lambda a: (a.time, a.id), reverse=True)[:limit]

    def last_arrival(self, user: str) -> Arrival | None:
        rows = self.recent_arrivals(user=user, limit=1)
        return rows[0] if rows else None

    def totals(self, user: str, since: float) -> Totals:
        rows = self.recent_arrivals(user=user, since=since, limit=len(self.arrivals) + 1)
        return Totals(files=len(rows), bytes=sum(a.size for a in rows))

    def site_states(self, now: float) -> dict[str, SiteState]:
        return dict(self.states)

    def trigger_failures(self, *, user: str | None = None, limit: int = 50) -> list[TriggerFailure]:
        rows = [f for f in self.failures if user is None or f.user == user]
        return sorted(rows, key=lambda f: f.time, reverse=True)[:limit]

    def trigger_queue_depth(self) -> int:
        return self.queue_depth
