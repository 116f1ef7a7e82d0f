"""The persistent run queue of trigger actions and alert deliveries (state database, at least
once).

A job is ``queued`` (due at ``due``), ``running`` (claimed by a worker until its lease ends),
``done`` or ``dead`` (its attempts are used up). A worker that dies (``kill -9``) leaves its
job ``running``; it is claimed again once the lease has passed, or at once by a process on the
same host that sees the owner's pid is gone. Every server process on one root polls the same
queue; claiming happens inside a write transaction (``providers.statedb``) so one job runs in
one place at a time.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from davserver.collection.model import TriggerFailure
from providers.statedb import StateConnection, open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS collection_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    "user" TEXT NOT NULL,
    path TEXT NOT NULL,
    spec TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    backoff REAL NOT NULL,
    timeout REAL NOT NULL,
    due REAL NOT NULL,
    lease_until REAL,
    owner TEXT,
    last_error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS collection_jobs_due ON collection_jobs(state, due);
"""

QUEUED, RUNNING, DONE, DEAD = "queued", "running", "done", "dead"
KIND_TRIGGER, KIND_ALERT = "trigger", "alert"
LEASE_GRACE_S = 30.0
MAX_BACKOFF_S = 3600.0
_HOST = socket.gethostname()


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to enqueue: ``spec`` is the action's configuration, ``event`` its input."""

    kind: str
    name: str
    action: str
    user: str
    path: str
    spec: dict[str, Any]
    event: dict[str, Any]
    max_attempts: int
    backoff: float
    timeout: float


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job."""

    id: int
    kind: str
    name: str
    action: str
    user: str
    path: str
    spec: dict[str, Any]
    event: dict[str, Any]
    attempts: int
    max_attempts: int
    backoff: float
    timeout: float


def owner_token() -> str:
    """This process's identity as a job owner: ``host:pid``."""
    return f"{_HOST}:{os.getpid()}"


def _owner_gone(owner: str | None) -> bool:
    """True if ``owner`` was a process on this host that no longer exists."""
    if not owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != _HOST or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, OverflowError):
        return True
    except PermissionError:
        return False
    return False


def _claimable(
    state: str, due: float, lease_until: float | None, owner: str | None, now: float
) -> bool:
    if state == QUEUED:
        return due <= now
    if state == RUNNING:
        return (lease_until is not None and lease_until < now) or _owner_gone(owner)
    return False


def retry_delay(backoff: float, attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failures (doubling, capped)."""
    return float(min(MAX_BACKOFF_S, backoff * 2 ** max(0, attempts - 1)))


class JobQueue:
    """Enqueue, claim, settle and inspect jobs."""

    def __init__(self, db_path: Path | str) -> None:
        self.db = open_db(db_path, SCHEMA, component="collection_jobs")

    def enqueue(self, conn: StateConnection, job: JobSpec, now: float) -> None:
        """Add ``job`` inside the caller's transaction on ``conn``, due at once."""
        conn.execute(
            'INSERT INTO collection_jobs (kind, name, action, "user", path, spec, event, state,'
            " max_attempts, backoff, timeout, due, created, updated)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                job.kind,
                job.name,
                job.action,
                job.user,
                job.path,
                json.dumps(job.spec),
                json.dumps(job.event),
                QUEUED,
                job.max_attempts,
                job.backoff,
                job.timeout,
                now,
                now,
                now,
            ),
        )

    def claim(self, now: float) -> Job | None:
        """Take the next due job (or one whose worker died) and lease it to this process.

        An idle poll only reads; the write lock is taken when there is a candidate, which is
        re-checked inside the transaction (another process may have taken it meanwhile).
        """
        candidate = self._candidate(self.db.conn(), now)
        if candidate is None:
            return None
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT state, due, lease_until, owner, timeout FROM collection_jobs WHERE id = ?",
                (candidate,),
            ).fetchone()
            if row is None or not _claimable(row[0], row[1], row[2], row[3], now):
                return None
            conn.execute(
                "UPDATE collection_jobs SET state = ?, owner = ?, lease_until = ?,"
                " attempts = attempts + 1, updated = ? WHERE id = ?",
                (RUNNING, owner_token(), now + float(row[4]) + LEASE_GRACE_S, now, candidate),
            )
            full = conn.execute(
                'SELECT id, kind, name, action, "user", path, spec, event, attempts,'
                " max_attempts, backoff, timeout FROM collection_jobs WHERE id = ?",
                (candidate,),
            ).fetchone()
        return Job(
            int(full[0]),
            str(full[1]),
            str(full[2]),
            str(full[3]),
            str(full[4]),
            str(full[5]),
            json.loads(full[6]),
            json.loads(full[7]),
            int(full[8]),
            int(full[9]),
            float(full[10]),
            float(full[11]),
        )

    @staticmethod
    def _candidate(conn: StateConnection, now: float) -> int | None:
        """The id of a job that looks claimable: due, lease over, or owner gone."""
        row = conn.execute(
            "SELECT id FROM collection_jobs WHERE (state = ? AND due <= ?)"
            " OR (state = ? AND lease_until < ?) ORDER BY due LIMIT 1",
            (QUEUED, now, RUNNING, now),
        ).fetchone()
        if row is not None:
            return int(row[0])
        for job_id, owner in conn.execute(
            "SELECT id, owner FROM collection_jobs WHERE state = ? ORDER BY due", (RUNNING,)
        ).fetchall():
            if _owner_gone(owner):
                return int(job_id)
        return None

    def succeed(self, job: Job, now: float) -> None:
        """Mark ``job`` done."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE collection_jobs SET state = ?, lease_until = NULL, last_error = NULL,"
                " updated = ? WHERE id = ? AND owner = ?",
                (DONE, now, job.id, owner_token()),
            )

    def fail(self, job: Job, error: str, now: float) -> bool:
        """Record a failed attempt: queue a retry with backoff, or (attempts used up) mark it
        dead. Returns True if it died."""
        dead = job.attempts >= job.max_attempts
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE collection_jobs SET state = ?, due = ?, lease_until = NULL,"
                " last_error = ?, updated = ? WHERE id = ? AND owner = ?",
                (
                    DEAD if dead else QUEUED,
                    now + retry_delay(job.backoff, job.attempts),
                    error[-2000:],
                    now,
                    job.id,
                    owner_token(),
                ),
            )
        return dead

    def release(self, job: Job, now: float) -> None:
        """Give ``job`` back unfinished (its attempt does not count); due at once."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE collection_jobs SET state = ?, due = ?, lease_until = NULL,"
                " attempts = attempts - 1, updated = ? WHERE id = ? AND owner = ?",
                (QUEUED, now, now, job.id, owner_token()),
            )

    def retry_dead(self, now: float, user: str | None = None) -> int:
        """Queue every dead trigger run (of ``user``) again with fresh attempts; the count."""
        sql = (
            "UPDATE collection_jobs SET state = ?, attempts = 0, due = ?, updated = ?"
            " WHERE kind = ? AND state = ?"
        )
        args: list[Any] = [QUEUED, now, now, KIND_TRIGGER, DEAD]
        if user is not None:
            sql += ' AND "user" = ?'
            args.append(user)
        with self.db.transaction() as conn:
            return conn.execute(sql, args).rowcount

    def next_due(self) -> float | None:
        """When the earliest queued job becomes due (None: nothing queued)."""
        row = (
            self.db.conn()
            .execute("SELECT MIN(due) FROM collection_jobs WHERE state = ?", (QUEUED,))
            .fetchone()
        )
        return None if row[0] is None else float(row[0])

    def depth(self) -> int:
        """Jobs queued or running (trigger runs only)."""
        row = (
            self.db.conn()
            .execute(
                "SELECT COUNT(*) FROM collection_jobs WHERE kind = ? AND state IN (?, ?)",
                (KIND_TRIGGER, QUEUED, RUNNING),
            )
            .fetchone()
        )
        return int(row[0])

    def failures(self, *, user: str | None = None, limit: int = 50) -> list[TriggerFailure]:
        """Trigger runs that failed at least once and are not done, newest first."""
        sql = (
            'SELECT name, "user", path, last_error, updated, attempts, state FROM collection_jobs'
            " WHERE kind = ? AND last_error IS NOT NULL AND state IN (?, ?)"
        )
        args: list[Any] = [KIND_TRIGGER, QUEUED, DEAD]
        if user is not None:
            sql += ' AND "user" = ?'
            args.append(user)
        sql += " ORDER BY updated DESC LIMIT ?"
        args.append(limit)
        return [
            TriggerFailure(str(n), str(u), str(p), str(e), float(t), int(a), s == DEAD)
            for n, u, p, e, t, a, s in self.db.conn().execute(sql, args)
        ]

    def states(self, kind: str = KIND_TRIGGER) -> dict[str, int]:
        """How many jobs of ``kind`` are in each state."""
        rows = self.db.conn().execute(
            "SELECT state, COUNT(*) FROM collection_jobs WHERE kind = ? GROUP BY state", (kind,)
        )
        return {str(s): int(n) for s, n in rows}

    def prune(self, done_before: float) -> int:
        """Forget finished jobs last touched before ``done_before``."""
        with self.db.transaction() as conn:
            return conn.execute(
                "DELETE FROM collection_jobs WHERE state = ? AND updated < ?",
                (DONE, done_before),
            ).rowcount
