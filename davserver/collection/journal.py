"""The arrival journal: one state-database row per committed file (``model.Arrival``).

Lives in the server's state database, so every server process on one root writes and reads
the same journal. ``record`` takes the caller's open transaction, so that the arrival and the
trigger runs it causes are stored together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from davserver.collection.model import Arrival, Totals
from providers.statedb import StateConnection, open_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS arrivals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    "user" TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    previous_sha256 TEXT,
    protocol TEXT NOT NULL,
    client TEXT,
    actor TEXT
);
CREATE INDEX IF NOT EXISTS arrivals_user_time ON arrivals("user", time);
CREATE INDEX IF NOT EXISTS arrivals_time ON arrivals(time);
"""

_COLUMNS = 'id, time, "user", path, size, md5, sha1, sha256, previous_sha256, protocol, client'


@dataclass(frozen=True, slots=True)
class NewArrival:
    """An arrival before it has an id (what the recorder hands to ``record``)."""

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
    actor: str | None

    def stored(self, arrival_id: int) -> Arrival:
        """The journal entry this becomes once stored as ``arrival_id``."""
        return Arrival(
            arrival_id,
            self.time,
            self.user,
            self.path,
            self.size,
            self.md5,
            self.sha1,
            self.sha256,
            self.previous_sha256,
            self.protocol,
            self.client,
        )


def _arrival(row: tuple[object, ...]) -> Arrival:
    return Arrival(*row)  # type: ignore[arg-type]


class ArrivalJournal:
    """Append, query and prune arrivals (times: POSIX seconds)."""

    def __init__(self, db_path: Path | str) -> None:
        self.db = open_db(db_path, SCHEMA, component="collection_journal")

    def record(self, conn: StateConnection, new: NewArrival) -> Arrival:
        """Insert ``new`` inside the caller's transaction on ``conn``; returns it with its id."""
        cur = conn.execute(
            'INSERT INTO arrivals (time, "user", path, size, md5, sha1, sha256, previous_sha256,'
            " protocol, client, actor) VALUES (?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
            (
                new.time,
                new.user,
                new.path,
                new.size,
                new.md5,
                new.sha1,
                new.sha256,
                new.previous_sha256,
                new.protocol,
                new.client,
                new.actor,
            ),
        )
        return new.stored(int(cur.fetchone()[0]))

    def recent(
        self,
        *,
        user: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = 100,
        oldest_first: bool = False,
    ) -> list[Arrival]:
        """Arrivals matching the filters, newest first unless ``oldest_first``."""
        where: list[str] = ["1=1"]
        args: list[object] = []
        if user is not None:
            where.append('"user" = ?')
            args.append(user)
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        if until is not None:
            where.append("time < ?")
            args.append(until)
        order = "ASC" if oldest_first else "DESC"
        sql = f"SELECT {_COLUMNS} FROM arrivals WHERE {' AND '.join(where)} ORDER BY id {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_arrival(r) for r in self.db.conn().execute(sql, args)]

    def last(self, user: str) -> Arrival | None:
        """The newest arrival of ``user``."""
        found = self.recent(user=user, limit=1)
        return found[0] if found else None

    def last_times(self) -> dict[str, float]:
        """Each user's newest arrival time."""
        rows = self.db.conn().execute('SELECT "user", MAX(time) FROM arrivals GROUP BY "user"')
        return {str(user): float(t) for user, t in rows}

    def totals(self, user: str, since: float) -> Totals:
        """Files and bytes ``user`` committed since ``since``."""
        files, size = (
            self.db.conn()
            .execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM arrivals"
                ' WHERE "user" = ? AND time >= ?',
                (user, since),
            )
            .fetchone()
        )
        return Totals(int(files), int(size))

    def in_folder(self, conn: StateConnection, user: str, folder: str, since: float) -> list[str]:
        """Distinct paths that arrived directly in ``folder`` of ``user`` since ``since``."""
        prefix = folder + "/" if folder else ""
        rows = conn.execute(
            'SELECT DISTINCT path FROM arrivals WHERE "user" = ? AND time >= ?'
            " AND substr(path, 1, ?) = ?",
            (user, since, len(prefix), prefix),
        )
        return [str(p) for (p,) in rows if "/" not in str(p)[len(prefix) :]]

    def prune(self, before: float) -> int:
        """Delete arrivals older than ``before``; returns how many."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM arrivals WHERE time < ?", (before,)).rowcount
