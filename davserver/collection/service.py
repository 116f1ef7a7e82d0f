"""``Collection``: arrival journal, trigger queue, site expectations and alerts, wired together.

It is the ``ArrivalSink`` of the ``RecordingProvider`` (an arrival and the trigger runs it
causes are stored in one transaction, then the workers are woken), the ``CollectionView`` the
operator pages read, and the owner of the background threads: ``workers`` that run queued
jobs and one ``monitor`` that checks site expectations and prunes old rows.
"""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from davserver.collection import actions, alerts, sites, triggers
from davserver.collection.actions import ActionCancelledError, ActionError
from davserver.collection.alerts import Alerts
from davserver.collection.journal import ArrivalJournal, NewArrival
from davserver.collection.manifest import iso
from davserver.collection.model import Arrival, SiteState, Totals, TriggerFailure
from davserver.collection.origin import Origin
from davserver.collection.outage import StateOutage
from davserver.collection.queue import KIND_ALERT, KIND_TRIGGER, Job, JobQueue
from davserver.collection.recording import RecordingProvider
from davserver.collection.sites import SiteStates
from davserver.settings import Settings
from providers.base import Provider
from providers.hashing import Digests
from providers.statedb import open_db

log = logging.getLogger(__name__)

WORKERS = 2
POLL_S = 0.5
PRUNE_EVERY_S = 3600.0
MAX_CHECK_S = 60.0
MIN_CHECK_S = 0.5


def check_interval(settings: Settings) -> float:
    """How often site expectations are checked: a tenth of the shortest ``expect_every``,
    between half a second and a minute (or ``alerts.check_interval`` if set)."""
    if settings.alerts.check_interval is not None:
        return settings.alerts.check_interval
    periods = [s.expect_every for s in settings.sites.values() if s.expect_every is not None]
    return max(MIN_CHECK_S, min([MAX_CHECK_S, *(p / 10 for p in periods)]))


class Collection:
    """See the module docstring. Build with ``open_collection``."""

    def __init__(self, settings: Settings, storage: Provider) -> None:
        db_path = settings.state_target
        self.settings = settings
        self.journal = ArrivalJournal(db_path)
        self.queue = JobQueue(db_path)
        self.alerts = Alerts(db_path, settings.alerts, self.queue)
        self.db = open_db(db_path, triggers.SCHEMA + sites.SCHEMA, component="collection_sites")
        self.storage = RecordingProvider(storage, self)
        self.outage = StateOutage(log, settings.state_display)
        self._root = getattr(storage, "root", None)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- ArrivalSink ------------------------------------------------------------------------

    def local_path(self, storage_path: str) -> Path | None:
        """Where ``storage_path`` lives on this machine (None if the storage is not local)."""
        if self._root is None:
            return None
        root = Path(self._root).absolute()  # commands get a path that works from any folder
        return root / storage_path if storage_path else root

    def arrived(
        self,
        storage_path: str,
        size: int,
        digests: Digests,
        previous_sha256: str | None,
        protocol: str,
        origin: Origin | None,
    ) -> None:
        """Journal the arrival and queue its trigger runs (one transaction); never raises."""
        user, _, path = storage_path.partition("/")
        new = NewArrival(
            time=time.time(),
            user=user,
            path=path,
            size=size,
            md5=digests.md5,
            sha1=digests.sha1,
            sha256=digests.sha256,
            previous_sha256=previous_sha256,
            protocol=protocol,
            client=origin.client if origin else None,
            actor=origin.actor if origin else None,
        )
        try:
            with self.db.transaction() as conn:
                arrival = self.journal.record(conn, new)
                jobs = triggers.plan_runs(
                    conn, self.journal, self.settings.triggers, arrival, self.local_path
                )
                for job in jobs:
                    self.queue.enqueue(conn, job, arrival.time)
        except sqlite3.OperationalError as exc:  # unavailable (locked, full, gone): expected
            log.warning(
                "arrival of %s not journaled and no trigger run queued for it (state database"
                " unavailable: %s)",
                storage_path,
                str(exc).strip() or type(exc).__name__,
            )
            return
        except Exception:
            log.exception("could not journal the arrival of %s", storage_path)
            return
        if jobs:
            self._wake.set()

    def upload_failed(
        self, storage_path: str, reason: str, *, refused: bool, origin: Origin | None
    ) -> None:
        """Tally a failed upload (alerts when refused or repeated); never raises."""
        user, _, path = storage_path.partition("/")
        try:
            self.alerts.upload_failed(
                user, path, reason, refused=refused, client=origin.client if origin else None
            )
        except Exception:
            log.exception("could not record the failed upload of %s", storage_path)
            return
        self._wake.set()

    # --- CollectionView ---------------------------------------------------------------------

    def recent_arrivals(
        self, *, user: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[Arrival]:
        """Newest first."""
        return self.journal.recent(user=user, since=since, limit=limit)

    def last_arrival(self, user: str) -> Arrival | None:
        """The newest arrival of ``user``, or None."""
        return self.journal.last(user)

    def totals(self, user: str, since: float) -> Totals:
        """Files and bytes ``user`` committed since ``since``."""
        return self.journal.totals(user, since)

    def site_states(self, now: float) -> dict[str, SiteState]:
        """Expectation state of every user that has one configured."""
        return SiteStates.read(self.db.conn(), self.settings.sites, self.journal.last_times(), now)

    def trigger_failures(self, *, user: str | None = None, limit: int = 50) -> list[TriggerFailure]:
        """Newest first; failed runs still retrying and dead letters."""
        return self.queue.failures(user=user, limit=limit)

    def trigger_queue_depth(self) -> int:
        """Trigger runs queued or retrying."""
        return self.queue.depth()

    def last_refusal(self, user: str) -> tuple[float, str, str] | None:
        """(time, path, reason) of ``user``'s newest verification refusal (not part of
        ``CollectionView``; for the status page's "last refusal" column)."""
        return self.alerts.last_refusal(user)

    # --- background threads -----------------------------------------------------------------

    def start(self) -> None:
        """Start the workers and the monitor (idempotent)."""
        if self._threads:
            return
        atexit.register(self.stop)  # a stopping server kills running commands; they rerun
        for n in range(WORKERS):
            self._threads.append(
                threading.Thread(target=self._work, name=f"collection-worker-{n}", daemon=True)
            )
        self._threads.append(
            threading.Thread(target=self._monitor, name="collection-monitor", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the threads to stop and wait for them (a running job finishes first)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._threads = []

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.queue.claim(time.time())
            except sqlite3.OperationalError as exc:  # the database is unavailable: expected
                self.outage.failed(exc)
                job = None
            except Exception:
                log.exception("cannot read the trigger queue")
                job = None
            else:
                self.outage.succeeded()
            if job is None:
                self._wake.wait(self._idle_wait())
                self._wake.clear()
                continue
            self._settle(job)

    def _idle_wait(self) -> float:
        """Until the next retry is due, at most ``POLL_S`` (other processes add jobs too)."""
        try:
            due = self.queue.next_due()
        except Exception:
            return POLL_S
        if due is None:
            return POLL_S
        return max(0.01, min(POLL_S, due - time.time()))

    def _settle(self, job: Job) -> None:
        """Run ``job`` once and record the outcome (retry, done or dead)."""
        try:
            self._execute(job)
        except ActionCancelledError:
            self._record(lambda: self.queue.release(job, time.time()))
            return
        except ActionError as exc:
            error = str(exc)
        except Exception as exc:  # a bug must not kill the worker; the job is retried
            log.exception("%s %s/%s failed unexpectedly", job.kind, job.name, job.action)
            error = f"internal error: {exc!r}"
        else:
            if self._record(lambda: self.queue.succeed(job, time.time())):
                log.info(
                    "%s %s (%s) done for %s/%s", job.kind, job.name, job.action, job.user, job.path
                )
            return
        self._record(lambda: self._failed(job, error))

    def _record(self, step: Callable[[], object]) -> bool:
        """Run ``step`` (writing a job's outcome) until the state database takes it, or the
        server stops (the job is then run again after its lease, at least once). True if it
        was written."""
        while True:
            try:
                step()
            except sqlite3.OperationalError as exc:  # locked beyond the busy timeout, full, gone
                self.outage.failed(exc)
            else:
                self.outage.succeeded()
                return True
            if self._stop.wait(POLL_S):
                return False

    def _failed(self, job: Job, error: str) -> None:
        """Record a failed attempt of ``job`` (a retry, or a dead letter with its alert)."""
        now = time.time()
        dead = self.queue.fail(job, error, now)
        log.warning(
            "%s %s (%s) for %s/%s failed (attempt %d of %d%s): %s",
            job.kind,
            job.name,
            job.action,
            job.user,
            job.path,
            job.attempts,
            job.max_attempts,
            ", dead-lettered" if dead else "",
            error,
        )
        if dead and job.kind == KIND_TRIGGER:
            alert: dict[str, Any] = {"event": "trigger_dead", "trigger": job.name}
            alert.update(user=job.user, path=job.path, action=job.action, error=error)
            alert["attempts"] = job.attempts
            self._record(lambda: self._queue_alert(alert, now))
            self._wake.set()

    def _queue_alert(self, alert: dict[str, Any], now: float) -> None:
        with self.db.transaction() as conn:
            self.alerts.queue_alert(conn, alert, now)

    def _execute(self, job: Job) -> None:
        if job.kind == KIND_ALERT:
            if job.action == "email":
                actions.send_mail(
                    job.spec, alerts.subject_of(job.event), alerts.text_of(job.event), job.timeout
                )
            else:
                body: dict[str, Any] = {**job.event, "subject": alerts.subject_of(job.event)}
                actions.post_webhook(job.spec, body, job.timeout)
        elif job.action == "run":
            actions.run_command(job.spec, job.event, job.timeout, self._stop)
        elif job.action == "webhook":
            actions.post_webhook(job.spec, job.event, job.timeout)
        elif job.action in ("copy", "move"):
            actions.place_file(self.storage, job.spec, job.event, move=job.action == "move")
        else:
            raise ActionError(f"unknown action {job.action!r}")

    def _monitor(self) -> None:
        interval = check_interval(self.settings)
        pruned = 0.0
        while not self._stop.wait(interval):
            now = time.time()
            try:
                self.check_sites(now)
                if now - pruned >= PRUNE_EVERY_S:
                    self.prune(now)
                    pruned = now
            except sqlite3.OperationalError as exc:
                self.outage.failed(exc)
            except Exception:
                log.exception("collection maintenance failed")

    def check_sites(self, now: float) -> None:
        """Queue one alert per site that turned late or recovered since the last check."""
        if not self.settings.sites:
            return
        last = self.journal.last_times()
        with self.db.transaction() as conn:
            for change in SiteStates.update(conn, self.settings.sites, last, now):
                event = "site_late" if change.health == "late" else "site_recovered"
                alert: dict[str, Any] = {"event": event, "user": change.user}
                alert["since"] = change.since
                alert.update(expectation=change.expectation, last_arrival=last.get(change.user))
                self.alerts.queue_alert(conn, alert, now)
                log.warning("site %s: %s (since %s)", change.user, change.health, iso(change.since))
        self._wake.set()

    def prune(self, now: float) -> None:
        """Drop arrivals and failures past retention, and old finished jobs."""
        keep = self.settings.arrivals
        removed = self.journal.prune(now - keep.retention)
        self.alerts.prune(now - keep.retention)
        self.queue.prune(now - keep.done_runs_retention)
        if removed:
            log.info("pruned %d arrival(s) past retention", removed)


def open_collection(settings: Settings, storage: Provider) -> Collection:
    """The collection back end of ``settings`` over ``storage`` (threads not started)."""
    return Collection(settings, storage)
