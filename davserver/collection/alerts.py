"""Alerts to operators: what they say, which channels carry them, and when failures add up.

An alert is queued (inside the caller's transaction) as one job per configured channel
(webhook, e-mail), so it is delivered at least once and retried like a trigger run. Kinds:
``site_late``, ``site_recovered``, ``upload_refused`` (a verification refusal),
``uploads_failing`` (``failed_uploads.count`` failures within its window) and
``trigger_dead`` (a trigger run used up its attempts).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from davserver.collection.config import AlertSettings
from davserver.collection.manifest import iso
from davserver.collection.queue import KIND_ALERT, JobQueue, JobSpec
from providers.statedb import StateConnection, open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS upload_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    "user" TEXT NOT NULL,
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    refused INTEGER NOT NULL,
    client TEXT
);
CREATE INDEX IF NOT EXISTS upload_failures_user_time ON upload_failures("user", time);
CREATE TABLE IF NOT EXISTS alert_marks (
    key TEXT PRIMARY KEY,
    time REAL NOT NULL
);
"""

_TITLES = {
    "site_late": "site {user} is late (expected {expectation})",
    "site_recovered": "site {user} is sending again",
    "upload_refused": "upload refused for {user}: {path}",
    "uploads_failing": "uploads of {user} keep failing ({count} in {window:g} s)",
    "trigger_dead": "trigger {trigger} gave up on {user}/{path}",
}


def subject_of(alert: dict[str, Any]) -> str:
    """The one-line subject of an alert."""
    return "[davsync] " + _TITLES[alert["event"]].format_map(alert)


TIME_FIELDS = frozenset({"time", "since", "last_arrival"})
"""Fields holding POSIX seconds (raw in webhooks; dates in mail)."""


def text_of(alert: dict[str, Any]) -> str:
    """The plain-text body of an alert e-mail: the subject, then every field (times as UTC
    dates, ``never`` for a missing one)."""
    lines = [subject_of(alert), ""]
    for key, value in sorted(alert.items()):
        if key in TIME_FIELDS:
            value = "never" if value is None else iso(float(value))
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


class Alerts:
    """Queues alerts and keeps the failure tallies that produce some of them."""

    def __init__(self, db_path: Path | str, settings: AlertSettings, queue: JobQueue) -> None:
        self.db = open_db(db_path, SCHEMA, component="collection_alerts")
        self.settings = settings
        self.queue = queue

    def queue_alert(self, conn: StateConnection, alert: dict[str, Any], now: float) -> None:
        """Queue ``alert`` for every configured channel inside the caller's transaction."""
        alert = {**alert, "time": now}
        s = self.settings
        channels: list[tuple[str, dict[str, Any]]] = []
        if s.webhook is not None:
            channels.append(("webhook", s.webhook.model_dump()))
        if s.email is not None:
            channels.append(("email", s.email.model_dump()))
        for action, spec in channels:
            job = JobSpec(
                kind=KIND_ALERT,
                name=str(alert["event"]),
                action=action,
                user=str(alert.get("user") or ""),
                path=str(alert.get("path") or ""),
                spec=spec,
                event=alert,
                max_attempts=s.attempts,
                backoff=s.backoff,
                timeout=s.timeout,
            )
            self.queue.enqueue(conn, job, now)

    def upload_failed(
        self, user: str, path: str, reason: str, *, refused: bool, client: str | None
    ) -> None:
        """Record a failed upload; queue ``upload_refused`` for a verification refusal and
        ``uploads_failing`` once per window when failures reach the threshold."""
        now = time.time()
        threshold = self.settings.failed_uploads
        with self.db.transaction() as conn:
            conn.execute(
                'INSERT INTO upload_failures (time, "user", path, reason, refused, client)'
                " VALUES (?,?,?,?,?,?)",
                (now, user, path, reason, int(refused), client),
            )
            if refused:
                refusal = {"event": "upload_refused", "user": user, "path": path}
                self.queue_alert(conn, {**refusal, "reason": reason, "client": client}, now)
            count = conn.execute(
                'SELECT COUNT(*) FROM upload_failures WHERE "user" = ? AND time >= ?',
                (user, now - threshold.window),
            ).fetchone()[0]
            if count >= threshold.count and self._mark_once(
                conn, f"failing:{user}", now, threshold.window
            ):
                failing: dict[str, Any] = {"event": "uploads_failing", "user": user}
                self.queue_alert(conn, {**failing, "count": count, "window": threshold.window}, now)

    @staticmethod
    def _mark_once(conn: StateConnection, key: str, now: float, window: float) -> bool:
        """True (and remembered) unless ``key`` was marked within ``window``."""
        row = conn.execute("SELECT time FROM alert_marks WHERE key = ?", (key,)).fetchone()
        if row is not None and now - float(row[0]) < window:
            return False
        conn.execute(
            "INSERT INTO alert_marks (key, time) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET time = excluded.time",
            (key, now),
        )
        return True

    def last_refusal(self, user: str) -> tuple[float, str, str] | None:
        """(time, path, reason) of ``user``'s newest verification refusal."""
        row = (
            self.db.conn()
            .execute(
                'SELECT time, path, reason FROM upload_failures WHERE "user" = ? AND refused = 1'
                " ORDER BY id DESC LIMIT 1",
                (user,),
            )
            .fetchone()
        )
        return None if row is None else (float(row[0]), str(row[1]), str(row[2]))

    def prune(self, before: float) -> int:
        """Forget failures older than ``before``."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM upload_failures WHERE time < ?", (before,)).rowcount
