"""The read-only view of collection state that the operator pages and metrics render.

Contract between the producers (arrival journal, trigger queue, site expectations) and the
consumers (``/status``, ``/metrics``): consumers depend only on ``CollectionView`` and the
value types below, never on how the producers store them.  Times are POSIX seconds (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

SiteHealth = Literal["ok", "late", "unknown"]


@dataclass(frozen=True)
class Arrival:
    """One committed file, whichever way it came in.

    ``path`` is relative to the user's home (``in/2026/a.csv``); ``protocol`` names the way
    in (``put``, ``chunked``, ``tus``, ``move``, ``copy``, ``form``, ``ftp``, ``mail``);
    ``previous_sha256`` is the SHA-256 of the version it replaced (None for a new file).
    """

    id: int
    time: float
    user: str
    path: str
    size: int
    md5: str
    sha1: str
    sha256: str
    previous_sha256: str | None
    protocol: str
    client: str | None


@dataclass(frozen=True)
class SiteState:
    """Whether a site (a user with an expectation) sent what it was expected to send."""

    user: str
    health: SiteHealth
    since: float | None
    expectation: str | None


@dataclass(frozen=True)
class TriggerFailure:
    """A trigger run that failed (``dead``: retries exhausted, needs an operator)."""

    trigger: str
    user: str
    path: str
    error: str
    time: float
    attempts: int
    dead: bool


@dataclass(frozen=True)
class Totals:
    """Files and bytes that arrived in a period."""

    files: int
    bytes: int


class CollectionView(Protocol):
    """What the operator surfaces may ask of the collection state (all read-only, cheap)."""

    def recent_arrivals(
        self, *, user: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[Arrival]:
        """Newest first."""
        ...

    def last_arrival(self, user: str) -> Arrival | None:
        """The newest arrival of ``user``, or None."""
        ...

    def totals(self, user: str, since: float) -> Totals:
        """Files and bytes ``user`` committed since ``since``."""
        ...

    def site_states(self, now: float) -> dict[str, SiteState]:
        """Expectation state of every user that has one configured."""
        ...

    def trigger_failures(self, *, user: str | None = None, limit: int = 50) -> list[TriggerFailure]:
        """Newest first; failed runs still retrying and dead letters."""
        ...

    def trigger_queue_depth(self) -> int:
        """Trigger runs queued or retrying."""
        ...
