"""``StateOutage``: one log line when the state database goes away, one when it is back.

The collection's background threads poll the state database every half second. While it is
unreachable (PostgreSQL restarting, SQLite locked beyond its busy timeout) every poll fails
with ``sqlite3.OperationalError``, an expected outcome: it is logged once as a WARNING when
the outage begins and once as INFO when a poll succeeds again, without a traceback.
"""

from __future__ import annotations

import logging
import sqlite3
import threading


class StateOutage:
    """Shared by the threads of one ``Collection``; safe to call from any thread."""

    def __init__(self, log: logging.Logger, where: str) -> None:
        self._log = log
        self._where = where
        self._lock = threading.Lock()
        self._down = False

    @property
    def down(self) -> bool:
        """True between a failed poll and the next successful one."""
        return self._down

    def failed(self, exc: sqlite3.OperationalError) -> None:
        """A poll failed because the database is unavailable (logged on the first only)."""
        with self._lock:
            if self._down:
                return
            self._down = True
        self._log.warning(
            "state database %s unavailable, collection jobs wait until it is back: %s",
            self._where,
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        )

    def succeeded(self) -> None:
        """A poll succeeded (logged when it ends an outage)."""
        if not self._down:  # the common case: no lock taken
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        self._log.info("state database %s available again, collection jobs resume", self._where)
