"""SQLite access shared by every store of server state (metadata, users, locks, properties).

One database file can hold the tables of several stores; each store creates its own tables.
Connections are per thread (cheroot serves requests from a thread pool) and per process, with
WAL journaling and a busy timeout so several server processes can share the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

BUSY_TIMEOUT_S = 30.0

_writer_locks: dict[str, threading.RLock] = {}
_writer_locks_guard = threading.Lock()


def writer_lock(db_path: Path) -> threading.RLock:
    """The one lock this process's writers of ``db_path`` queue on before ``BEGIN IMMEDIATE``.

    SQLite makes a writer that finds the database locked sleep and retry (its busy handler
    sleeps 1, 2, 5 ... 100 ms); with several threads of one process writing, those sleeps,
    not the work, set the pace. Queuing on a Python lock first hands the write lock over the
    moment it is free; the busy timeout still covers other processes.
    """
    key = str(db_path.absolute())
    with _writer_locks_guard:
        lock = _writer_locks.get(key)
        if lock is None:
            lock = _writer_locks[key] = threading.RLock()
        return lock


def connect(db_path: Path) -> sqlite3.Connection:
    """Open ``db_path`` (creating parent folders) with WAL, foreign keys and a busy timeout."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(db_path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class ThreadLocalDB:
    """Hands each thread its own connection to one database file.

    ``schema`` is executed (``executescript``) once per connection; it must be idempotent
    (``CREATE TABLE IF NOT EXISTS``).
    """

    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, db_path: Path, schema: str) -> None:
        self.db_path = db_path
        self.display_name = str(db_path)
        self._schema = schema
        self._local = threading.local()
        self._writer = writer_lock(db_path)
        self.conn()  # create the schema now, so errors surface at start-up

    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.db_path)
            conn.executescript(self._schema)
            self._local.conn = conn
        return conn

    def ddl(self, script: str) -> list[str]:
        """The statements of ``script`` (SQLite runs the DDL as written)."""
        return [part.strip() for part in script.split(";") if part.strip()]

    def close(self) -> None:
        """Forget every thread's connection (closing the calling thread's); the next
        ``conn()`` in any thread opens a fresh one. Stored data is unaffected."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        self._local = threading.local()
        if conn is not None:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error.
        Writers of one process take turns on ``writer_lock`` first (see there)."""
        conn = self.conn()
        with self._writer:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
