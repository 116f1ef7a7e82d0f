"""Digest nonces the server issued, and which nonce counts were already used.

WsgiDAV issues random Digest nonces but never checks them afterwards, so a captured
``Authorization: Digest`` header could be replayed (for the same method and URI, with any
body) for ever. ``DigestNonceGuard`` closes that: it records every nonce the server sends in a
401 challenge, and accepts Digest credentials only with a nonce it issued less than
``ttl_s`` ago and a nonce count (``nc``) not used before with that nonce. Anything else has
its ``Authorization`` header removed, so the authenticator answers with a fresh challenge, which
clients answer without asking the user again.

Placed directly before WsgiDAV's ``HTTPAuthenticator`` in the middleware stack. Nonces live in
the server's state database (the ``registry`` it is built with, a :class:`NonceRegistry`), shared
by every server process on the same state: a nonce issued by one process is accepted by another
(clients behind a balancer keep their nonce), and a replay is refused by all of them. Without
that key, the guard keeps a private registry.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from davserver.auth.state_db import open_state_db
from davserver.http.environ import StartResponse, WSGIApp
from providers.statedb import StateConnection

_log = logging.getLogger(__name__)

_NONCE_RE = re.compile(r'\bnonce="([^"]+)"')
_NC_RE = re.compile(r"\bnc=\"?([0-9a-fA-F]{1,8})\"?")
_QOP_RE = re.compile(r"\bqop=\"?([\w-]+)\"?")

DEFAULT_TTL_S = 3600.0
MAX_NONCES = 20_000
MAX_COUNTS_PER_NONCE = 4096
_PRUNE_EVERY = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS digest_nonces (
    nonce      TEXT PRIMARY KEY,
    issued_at  REAL NOT NULL,
    used_plain INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS digest_nonces_issued ON digest_nonces (issued_at);
CREATE TABLE IF NOT EXISTS digest_nonce_counts (
    nonce TEXT NOT NULL REFERENCES digest_nonces (nonce) ON DELETE CASCADE,
    nc    INTEGER NOT NULL,
    PRIMARY KEY (nonce, nc)
) WITHOUT ROWID;
"""


class _LocalNonces:
    """Nonces and counts recorded in this process only: the fallback while the state database
    cannot be written (a full disk), so Digest keeps working, with replay protection per
    process until the database is writable again."""

    def __init__(self, max_nonces: int) -> None:
        self._max = max_nonces
        self._lock = threading.Lock()
        self._nonces: OrderedDict[str, tuple[float, set[int | None]]] = OrderedDict()

    def issue(self, nonce: str, issued_at: float) -> None:
        with self._lock:
            self._nonces[nonce] = (issued_at, set())
            while len(self._nonces) > self._max:
                self._nonces.popitem(last=False)

    def accept(
        self, nonce: str, count: int | None, issued_at: float | None, now: float, ttl: float
    ) -> bool:
        """``issued_at``: when the database says the nonce was issued (None: unknown there)."""
        with self._lock:
            entry = self._nonces.get(nonce)
            if entry is None:
                if issued_at is None:
                    return False
                entry = self._nonces[nonce] = (issued_at, set())
            if now - entry[0] > ttl:
                return False
            used = entry[1]
            if count in used or len(used) >= MAX_COUNTS_PER_NONCE:
                return False
            used.add(count)
            return True


class NonceRegistry:
    """Issued nonces and the nonce counts used with each, in the state database (SQLite or
    PostgreSQL; safe across processes and servers).

    Every server process opened on the same ``db_path`` (the server's state database) shares
    the registry: a nonce issued by one process is accepted by another, and a count used with
    one process is refused by every other. ``db_path=None`` keeps a private registry.
    Times are wall-clock seconds (``clock``), comparable between processes. While the database
    cannot be written (a full disk), nonces and counts are recorded in this process only.
    """

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        max_nonces: int = MAX_NONCES,
        clock: Callable[[], float] = time.time,
        *,
        db_path: Path | str | None = None,
    ) -> None:
        self._ttl = ttl_s
        self._max = max_nonces
        self._clock = clock
        self._db = open_state_db(self, db_path, _SCHEMA, component="digest_nonces")
        self._local = _LocalNonces(max_nonces)
        self._issued = 0

    def issue(self, nonce: str) -> None:
        """Record a nonce sent in a challenge."""
        now = self._clock()
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO digest_nonces (nonce, issued_at) VALUES (?, ?)"
                    " ON CONFLICT (nonce) DO UPDATE SET issued_at = excluded.issued_at,"
                    " used_plain = 0",
                    (nonce, now),
                )
                self._issued += 1
                if self._issued % _PRUNE_EVERY == 1:
                    self._prune(conn, now)
        except sqlite3.Error as exc:
            _log.warning("Digest nonce kept in this process only: %s", exc)
            self._local.issue(nonce, now)

    def _prune(self, conn: StateConnection, now: float) -> None:
        """Drop expired nonces, and the oldest beyond ``max_nonces``."""
        conn.execute("DELETE FROM digest_nonces WHERE issued_at < ?", (now - self._ttl,))
        (count,) = conn.execute("SELECT COUNT(*) FROM digest_nonces").fetchone()
        if count > self._max:
            conn.execute(
                "DELETE FROM digest_nonces WHERE nonce IN"
                " (SELECT nonce FROM digest_nonces ORDER BY issued_at LIMIT ?)",
                (count - self._max,),
            )

    def accept(self, nonce: str, count: int | None) -> bool:
        """True (and the count is marked used) if ``nonce`` was issued, has not expired and
        ``count`` was not used with it before. Without a count (no ``qop``), a nonce is good
        for one request only."""
        now = self._clock()
        issued_at: float | None = None
        try:
            with self._db.transaction() as conn:
                row = conn.execute(
                    "SELECT issued_at, used_plain FROM digest_nonces WHERE nonce = ?", (nonce,)
                ).fetchone()
                if row is None:
                    return self._local.accept(nonce, count, None, now, self._ttl)
                issued_at = float(row[0])
                return self._accept_row(conn, nonce, count, issued_at, bool(row[1]), now)
        except sqlite3.Error as exc:
            _log.warning("Digest nonce count checked in this process only: %s", exc)
            return self._local.accept(nonce, count, issued_at, now, self._ttl)

    def _accept_row(
        self,
        conn: StateConnection,
        nonce: str,
        count: int | None,
        issued_at: float,
        used_plain: bool,
        now: float,
    ) -> bool:
        if now - issued_at > self._ttl:
            conn.execute("DELETE FROM digest_nonces WHERE nonce = ?", (nonce,))
            return False
        if count is None:
            if used_plain:
                return False
            conn.execute("UPDATE digest_nonces SET used_plain = 1 WHERE nonce = ?", (nonce,))
            return True
        (used,) = conn.execute(
            "SELECT COUNT(*) FROM digest_nonce_counts WHERE nonce = ?", (nonce,)
        ).fetchone()
        if used >= MAX_COUNTS_PER_NONCE:
            return False
        cursor = conn.execute(
            "INSERT INTO digest_nonce_counts (nonce, nc) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (nonce, count),
        )
        return cursor.rowcount == 1


def digest_nonce_and_count(header: str) -> tuple[str, int | None] | None:
    """(nonce, nc) of a Digest ``Authorization`` value; None if it has no nonce.

    ``nc`` is None when the client sent no ``qop`` (RFC 2069 style)."""
    nonce = _NONCE_RE.search(header)
    if nonce is None:
        return None
    qop = _QOP_RE.search(header)
    nc = _NC_RE.search(header)
    if qop is None or nc is None:
        return nonce.group(1), None
    return nonce.group(1), int(nc.group(1), 16)


class DigestNonceGuard:
    """See the module docstring."""

    def __init__(self, next_app: WSGIApp, *, registry: NonceRegistry) -> None:
        self.next_app = next_app
        self.registry = registry

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        header = str(environ.get("HTTP_AUTHORIZATION") or "")
        stale = False
        if header[:7].lower() == "digest ":
            parsed = digest_nonce_and_count(header)
            if parsed is None or not self.registry.accept(*parsed):
                del environ["HTTP_AUTHORIZATION"]  # -> a fresh challenge
                stale = True

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("401"):
                headers = [self._challenge(name, value, stale) for name, value in headers]
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        return self.next_app(environ, recording)

    def _challenge(self, name: str, value: str, stale: bool) -> tuple[str, str]:
        """Record the nonce of a Digest challenge; mark it stale after a refused nonce, so
        clients retry with the same credentials instead of asking the user."""
        if name.lower() != "www-authenticate" or value[:7].lower() != "digest ":
            return name, value
        nonce = _NONCE_RE.search(value)
        if nonce is not None:
            self.registry.issue(nonce.group(1))
        return name, (f"{value}, stale=true" if stale else value)
