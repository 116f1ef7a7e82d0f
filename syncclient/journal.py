"""The client's SQLite journal: hash cache, verified uploads, files sent but not verified
(a transport that cannot read back what the server stored, such as mail without receipts),
open upload sessions and their acknowledged chunks, and run summaries.

Every write is its own committed transaction (WAL, ``synchronous=FULL``), so a client killed
at any point (kill -9, power loss) finds on its next run every session it opened and every
chunk the server acknowledged. One connection is shared by the executor's threads behind a
lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncclient.model import Digests, JournalView, SentRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS hash_cache(
  path TEXT PRIMARY KEY, dev INTEGER, inode INTEGER, size INTEGER, mtime_ns INTEGER,
  sha256 TEXT, sha1 TEXT, md5 TEXT, first_seen REAL, baseline INTEGER, seen_at REAL);
CREATE INDEX IF NOT EXISTS hash_by_id ON hash_cache(dev, inode, size, mtime_ns);
CREATE TABLE IF NOT EXISTS sent(
  path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT, sha1 TEXT, etag TEXT,
  url TEXT, verified_at REAL, post_done INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions(
  path TEXT PRIMARY KEY, session_url TEXT, size INTEGER, mtime_ns INTEGER, sha1 TEXT,
  chunk_size INTEGER, created_at REAL);
CREATE TABLE IF NOT EXISTS chunks(
  session_url TEXT, n INTEGER, size INTEGER, PRIMARY KEY(session_url, n));
CREATE TABLE IF NOT EXISTS sent_unverified(
  path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT, url TEXT, sent_at REAL);
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT, finished REAL, bytes INTEGER, seconds REAL,
  summary TEXT);
"""


@dataclass(frozen=True, slots=True)
class CacheRow:
    """A hash-cache row: the stat identity a file had, its digests (if hashed), since when
    this state is known (``first_seen``), when it was last seen (``seen_at``) and whether the
    path was new when this state was first seen (``baseline``)."""

    path: str
    dev: int
    inode: int
    size: int
    mtime_ns: int
    digests: Digests | None
    first_seen: float
    baseline: bool
    seen_at: float = 0.0

    def same_state(self, dev: int, inode: int, size: int, mtime_ns: int) -> bool:
        """True if the file still has the identity this row was made for."""
        return (self.dev, self.inode, self.size, self.mtime_ns) == (dev, inode, size, mtime_ns)


@dataclass(frozen=True, slots=True)
class SessionRow:
    """An upload session opened for ``path``."""

    path: str
    session_url: str
    size: int
    mtime_ns: int
    sha1: str
    chunk_size: int
    created_at: float


class Journal:
    """The journal database at ``path`` (created with its folder if missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # hash cache ---------------------------------------------------------------------------

    def cache_all(self) -> dict[str, CacheRow]:
        """Every hash-cache row by path."""
        return {r[0]: _cache_row(r) for r in self._rows("SELECT * FROM hash_cache")}

    def cache_find_by_id(self, dev: int, inode: int, size: int, mtime_ns: int) -> CacheRow | None:
        """A hashed row with this identity under any path (a renamed file), or None."""
        rows = self._rows(
            "SELECT * FROM hash_cache WHERE dev=? AND inode=? AND size=? AND mtime_ns=? "
            "AND sha256 IS NOT NULL LIMIT 1",
            (dev, inode, size, mtime_ns),
        )
        return _cache_row(rows[0]) if rows else None

    def cache_replace(self, rows: Iterable[CacheRow], present: set[str]) -> None:
        """Store ``rows`` and drop rows of paths not in ``present``, in one transaction."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO hash_cache VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [_cache_tuple(r) for r in rows],
            )
            known = [r[0] for r in db.execute("SELECT path FROM hash_cache").fetchall()]
            gone = [(p,) for p in known if p not in present]
            db.executemany("DELETE FROM hash_cache WHERE path=?", gone)

    def cache_forget(self, path: str) -> None:
        """Drop the hash-cache row of ``path`` (its digests proved stale): the next scan
        hashes the file again."""
        with self._tx() as db:
            db.execute("DELETE FROM hash_cache WHERE path=?", (path,))

    # verified uploads ---------------------------------------------------------------------

    def view(self) -> JournalView:
        """What the planner needs."""
        sent = {
            r[0]: SentRecord(
                path=r[0],
                size=r[1],
                mtime_ns=r[2],
                sha256=r[3],
                etag=r[5],
                verified_at=r[7],
                post_done=bool(r[8]),
            )
            for r in self._rows("SELECT * FROM sent")
        }
        sessions = frozenset(r[0] for r in self._rows("SELECT path FROM sessions"))
        return JournalView(sent=sent, open_sessions=sessions)

    def record_verified(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        digests: Digests,
        etag: str | None,
        url: str,
        when: float,
    ) -> None:
        """Record that ``path`` with ``digests`` is verified on the server at ``url``."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO sent VALUES (?,?,?,?,?,?,?,?,0)",
                (path, size, mtime_ns, digests.sha256, digests.sha1, etag, url, when),
            )
            db.execute("DELETE FROM sent_unverified WHERE path=?", (path,))

    def record_sent(
        self, path: str, size: int, mtime_ns: int, sha256: str, url: str, when: float
    ) -> None:
        """Record that ``path`` was handed to the server but its hash could not be read
        back: "sent", never "verified" (no post-action, not in ``verified_hashes``)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO sent_unverified VALUES (?,?,?,?,?,?)",
                (path, size, mtime_ns, sha256, url, when),
            )

    def delivered(self, path: str) -> tuple[int, str, bool] | None:
        """(size, sha256, verified) of the last delivery of ``path``, verified or only sent."""
        for table, verified in (("sent", True), ("sent_unverified", False)):
            rows = self._rows(f"SELECT size, sha256 FROM {table} WHERE path=?", (path,))
            if rows:
                return int(rows[0][0]), str(rows[0][1]), verified
        return None

    def verified_hashes(self) -> list[tuple[str, int, str, str | None]]:
        """Every verified upload as (path, size, sha256, sha1), sorted by path."""
        rows = self._rows("SELECT path, size, sha256, sha1 FROM sent ORDER BY path")
        return [(str(p), int(n), str(h256), h1) for p, n, h256, h1 in rows]

    def mark_post_done(self, path: str) -> None:
        """The post-action of ``path`` has been applied."""
        with self._tx() as db:
            db.execute("UPDATE sent SET post_done=1 WHERE path=?", (path,))

    # upload sessions ----------------------------------------------------------------------

    def session_get(self, path: str) -> SessionRow | None:
        """The open session for ``path``, or None."""
        rows = self._rows("SELECT * FROM sessions WHERE path=?", (path,))
        return SessionRow(*rows[0]) if rows else None

    def session_put(self, row: SessionRow) -> None:
        """Record a session before it is created on the server."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,?,?)",
                (
                    row.path,
                    row.session_url,
                    row.size,
                    row.mtime_ns,
                    row.sha1,
                    row.chunk_size,
                    row.created_at,
                ),
            )

    def session_drop(self, path: str) -> None:
        """Forget the session of ``path`` and its chunks."""
        with self._tx() as db:
            for (url,) in db.execute("SELECT session_url FROM sessions WHERE path=?", (path,)):
                db.execute("DELETE FROM chunks WHERE session_url=?", (url,))
            db.execute("DELETE FROM sessions WHERE path=?", (path,))

    def chunk_ack(self, session_url: str, n: int, size: int) -> None:
        """The server acknowledged chunk ``n`` of ``session_url``."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO chunks VALUES (?,?,?)", (session_url, n, size))

    def chunks(self, session_url: str) -> dict[int, int]:
        """Acknowledged chunks of a session: number -> size."""
        rows = self._rows("SELECT n, size FROM chunks WHERE session_url=?", (session_url,))
        return {int(n): int(size) for n, size in rows}

    # runs ---------------------------------------------------------------------------------

    def record_run(
        self, finished: float, nbytes: int, seconds: float, summary: dict[str, Any]
    ) -> None:
        """Store a run summary (the measured rate feeds the cautious cut-off of later runs)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs(finished, bytes, seconds, summary) VALUES (?,?,?,?)",
                (finished, nbytes, seconds, json.dumps(summary)),
            )
            db.execute(
                "DELETE FROM runs WHERE id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT 100)"
            )

    def last_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        """The latest run summaries, newest first."""
        rows = self._rows("SELECT summary FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [json.loads(r[0]) for r in rows]

    def measured_rate(self) -> float | None:
        """Bytes per second over recent runs that sent at least 1 MiB, or None."""
        rows = self._rows(
            "SELECT SUM(bytes), SUM(seconds) FROM "
            "(SELECT bytes, seconds FROM runs WHERE bytes >= 1048576 ORDER BY id DESC LIMIT 5)"
        )
        total, seconds = rows[0]
        if not total or not seconds:
            return None
        return float(total) / float(seconds)


def _cache_row(r: tuple[Any, ...]) -> CacheRow:
    digests = Digests(r[5], r[6], r[7]) if r[5] else None
    return CacheRow(r[0], r[1], r[2], r[3], r[4], digests, r[8], bool(r[9]), r[10] or 0.0)


def _cache_tuple(r: CacheRow) -> tuple[Any, ...]:
    d = r.digests
    return (
        r.path,
        r.dev,
        r.inode,
        r.size,
        r.mtime_ns,
        d.sha256 if d else None,
        d.sha1 if d else None,
        d.md5 if d else None,
        r.first_seen,
        int(r.baseline),
        r.seen_at,
    )
