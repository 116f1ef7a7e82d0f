"""The operator status page: ``GET /status`` (every site) and ``GET /status/<user>`` (one).

One row per site (a user with a home, or with an expectation configured): last arrival,
files and bytes today (since the server's local midnight) and over 7 days, open upload
sessions, expectation state, last refusal and throttling, trigger failures. The site page adds
the recent arrivals, the trigger failures and the open upload sessions. Pages refresh
themselves (``<meta http-equiv="refresh">``) and need no JavaScript.

Without a collection view (``ServerContext.collection`` is None) the pages still render,
from the homes and the upload sessions, and say that the journal is unavailable.

Who may see them is decided by the caller (``davserver.web.front``): operators only.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from davserver.collection.model import Arrival, SiteState, Totals, TriggerFailure
from davserver.context import ServerContext
from davserver.uploads.store import Session
from davserver.web.refusals import Refusal, RefusalTracker
from davserver.web.templates import render
from davserver.web.wsgi import HTML, StartResponse, respond

PATH = "/status"
REFRESH_S = 30
WEEK_S = 7 * 24 * 3600
RECENT_ARRIVALS = 100
FAILURES_SHOWN = 50

Clock = Callable[[], float]


@dataclass(frozen=True)
class SiteRow:
    """What the overview shows for one site (None: not known, e.g. no journal)."""

    user: str
    last_arrival: Arrival | None
    today: Totals | None
    week: Totals | None
    open_uploads: int
    state: SiteState | None
    refusal: Refusal | None
    throttle: Refusal | None
    failures_retrying: int
    failures_dead: int


@dataclass(frozen=True)
class SiteDetail:
    """What the per-site page shows."""

    row: SiteRow
    arrivals: list[Arrival]
    failures: list[TriggerFailure]
    sessions: list[Session]


def start_of_day(now: float) -> float:
    """The server's local midnight before ``now`` (POSIX seconds)."""
    local = dt.datetime.fromtimestamp(now, dt.UTC).astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class StatusReports:
    """Builds the rows and site details from the server's state."""

    def __init__(self, context: ServerContext, refusals: RefusalTracker) -> None:
        self.context = context
        self.refusals = refusals

    def sites(self, now: float) -> list[str]:
        """Every home, and every user with an expectation, sorted."""
        names = set(self.context.homes())
        if self.context.collection is not None:
            names.update(self.context.collection.site_states(now))
        return sorted(names)

    def rows(self, now: float) -> list[SiteRow]:
        """One row per site."""
        uploads = self.context.uploads
        counts = uploads.open_session_counts() if uploads is not None else {}
        view = self.context.collection
        states = view.site_states(now) if view is not None else {}
        return [
            self._row(user, now, counts.get(user, 0), states.get(user)) for user in self.sites(now)
        ]

    def _row(self, user: str, now: float, open_uploads: int, state: SiteState | None) -> SiteRow:
        view = self.context.collection
        refusal, throttle = self.refusals.last_for_user(user)
        if view is None:
            return SiteRow(user, None, None, None, open_uploads, None, refusal, throttle, 0, 0)
        failures = view.trigger_failures(user=user, limit=FAILURES_SHOWN)
        return SiteRow(
            user=user,
            last_arrival=view.last_arrival(user),
            today=view.totals(user, start_of_day(now)),
            week=view.totals(user, now - WEEK_S),
            open_uploads=open_uploads,
            state=state,
            refusal=refusal,
            throttle=throttle,
            failures_retrying=sum(1 for f in failures if not f.dead),
            failures_dead=sum(1 for f in failures if f.dead),
        )

    def site(self, user: str, now: float) -> SiteDetail | None:
        """The detail of ``user``'s site, or None if there is no such site."""
        if user not in self.sites(now):
            return None
        view = self.context.collection
        uploads = self.context.uploads
        sessions = uploads.active_sessions(user) if uploads is not None else []
        state = view.site_states(now).get(user) if view is not None else None
        row = self._row(user, now, len(sessions), state)
        if view is None:
            return SiteDetail(row, [], [], sessions)
        return SiteDetail(
            row,
            view.recent_arrivals(user=user, limit=RECENT_ARRIVALS),
            view.trigger_failures(user=user, limit=FAILURES_SHOWN),
            sessions,
        )


class StatusPages:
    """Renders the two pages (the caller has checked that the user is an operator)."""

    def __init__(
        self,
        context: ServerContext,
        refusals: RefusalTracker,
        *,
        refresh_s: int = REFRESH_S,
        clock: Clock = time.time,
    ) -> None:
        self.reports = StatusReports(context, refusals)
        self.refresh_s = refresh_s
        self.clock = clock

    def _common(self, now: float) -> dict[str, Any]:
        view = self.reports.context.collection
        return {
            "now": now,
            "refresh_s": self.refresh_s,
            "journal_available": view is not None,
            "queue_depth": view.trigger_queue_depth() if view is not None else None,
        }

    def render_index(self, now: float) -> bytes:
        """The overview page."""
        return render(
            "status.html",
            rows=self.reports.rows(now),
            addresses=self.reports.refusals.recent_addresses(),
            **self._common(now),
        )

    def render_site(self, user: str, now: float) -> bytes | None:
        """The page of ``user``'s site, or None if there is no such site."""
        detail = self.reports.site(user, now)
        if detail is None:
            return None
        return render("site.html", site=detail, **self._common(now))

    def serve(
        self, environ: dict[str, Any], start_response: StartResponse, rest: str
    ) -> list[bytes]:
        """Answer ``/status`` (``rest`` empty) or ``/status/<user>`` (``rest`` = user)."""
        now = self.clock()
        if not rest:
            return respond(environ, start_response, "200 OK", self.render_index(now), HTML)
        page = self.render_site(rest, now)
        if page is None:
            return respond(environ, start_response, "404 Not Found", b"No such site.\n")
        return respond(environ, start_response, "200 OK", page, HTML)
