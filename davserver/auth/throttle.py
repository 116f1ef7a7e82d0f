"""Throttling of failed logins that an attacker cannot aim at somebody else.

Failures are counted in three scopes, each over the last ``window_s`` seconds:

- **(account, address)**: ``max_failures`` failures lock *this account from this address*.
  A guesser gets ``max_failures`` tries for one account, then one try per ``lockout_s``.
- **address**: ``address_max_failures`` failures (default ``3 * max_failures``) lock the
  address for every account (a guesser trying many accounts from one address).
- **account** (the backstop against guessing one account from many addresses):
  ``account_max_failures`` failures (default ``10 * max_failures``) from all addresses
  together lock the account only *for the addresses that have failed for it themselves*
  within the window. Each new address thus gets one try, then waits.

A client that presents the right password from an address without failures is therefore never
refused, whatever happens elsewhere: failures from other addresses count only against their own
addresses, and the backstop spares addresses that have not failed. Behind one NAT, typos of one
account lock that account (from that address) long before they reach the address limit.

A key that reached its limit is locked until ``lockout_s`` after its last failure; the failures
stay counted for the rest of the window, so each further failure locks it again at once.

A success clears the failures of its (account, address) pair, but not those of the address
(a valid account must not reset the counter of an address guessing other accounts) nor the
account's backstop count. IPv6 addresses are counted per /64 network, IPv4-mapped IPv6 as IPv4.

The state is kept in SQLite (``db_path``: the server's state database), so every server
process on the same state shares it; times are wall-clock seconds for the same reason. Storage
is bounded: each key keeps only as many failures as its limit, failures older than the window
and the lockout are purged, and at most ``max_records`` failures are kept in all (the oldest
are dropped first). A claimed user name longer than any account's (up to 48 KB fit in a
request head) is keyed by its SHA-256: 600 failed logins with 40 KB names grew the state
database by 100 MB. While the database cannot be written (a full disk), outcomes are not
recorded (logged instead); logins go on working.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from davserver.auth.state_db import open_state_db
from providers.statedb import StateConnection

__all__ = ["Assessment", "LoginThrottle"]

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failures (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    key   TEXT NOT NULL,
    at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (scope, key, at);
CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at);
"""
# Version 1 gives each failure an id (older files had none); the counters are short-lived, so
# the table is simply recreated.
_MIGRATIONS = ("DROP TABLE IF EXISTS login_failures;" + _SCHEMA.replace("IF NOT EXISTS ", ""),)
# Separates the account from the address in a pair key; PostgreSQL text cannot hold NUL.
_SEP = "\x1f"

_PAIR, _ADDR, _ACCOUNT = "pair", "addr", "account"
_UNKNOWN_ADDR = "-"
_PURGE_EVERY = 64
MAX_NAME_KEY = 64
"""User names up to this length (the longest an account can have) are stored as they are."""


@functools.lru_cache(maxsize=4096)
def _addr_key(addr: str) -> str:
    """Normalize a client address: IPv4-mapped IPv6 to IPv4, other IPv6 to its /64."""
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return addr
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _text(value: str) -> str:
    """``value`` storable on every engine (PostgreSQL text cannot hold NUL)."""
    return value.replace("\x00", "\ufffd")


def _user_key(user: str) -> str:
    """``user`` as stored: a name longer than any account's as a fixed-size digest."""
    if len(user) <= MAX_NAME_KEY:
        return _text(user)
    return "sha256:" + hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()


def _pair_key(user: str, addr: str | None) -> str:
    return f"{_user_key(user)}{_SEP}{_addr_key(addr) if addr is not None else _UNKNOWN_ADDR}"


@dataclass(frozen=True, slots=True)
class _Count:
    failures: int
    last: float

    @classmethod
    def of(cls, count: Any, last: Any) -> _Count:
        """From a ``COUNT(*), MAX(at)`` row (``MAX`` is NULL without failures)."""
        return cls(int(count), float(last) if last is not None else float("-inf"))


@dataclass(frozen=True, slots=True)
class Assessment:
    """What :meth:`LoginThrottle.assess` found for one (user, address).

    Attributes:
        wait: seconds to wait before trying again, or None if nothing is locked.
        pair_failures: failures of the (user, address) pair within the window.
    """

    wait: float | None
    pair_failures: int


class LoginThrottle:
    """Counts failed logins and says when a client must wait (see the module docstring).

    Thread- and process-safe. ``None`` for a user or an address means "not known": a failure
    without a user counts only for the address; without an address, the pair is counted under
    an "unknown address" key and the address scope is skipped.

    Args:
        max_failures: failures of one (account, address) within ``window_s`` that lock it.
        window_s: how long a failure is remembered, in seconds (> 0).
        lockout_s: how long a key stays locked after its last failure, in seconds (> 0).
        clock: wall-clock time source in seconds (replaceable for tests).
        db_path: the state database shared by every server process, a SQLite file or a
            ``postgresql://`` URL (None: a private file of this instance).
        address_max_failures: failures of one address, for any accounts, that lock it.
        account_max_failures: failures of one account, from all addresses, after which
            every address that failed for it is locked for it.
        max_records: most failures stored in all.

    Raises:
        ValueError: a parameter is out of range.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 300,
        lockout_s: float = 60,
        clock: Callable[[], float] = time.time,
        *,
        db_path: Path | str | None = None,
        address_max_failures: int | None = None,
        account_max_failures: int | None = None,
        max_records: int = 200_000,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be >= 1")
        if window_s <= 0 or lockout_s <= 0:
            raise ValueError("window_s and lockout_s must be > 0")
        if max_records < 1:
            raise ValueError("max_records must be >= 1")
        self.max_failures = max_failures
        self.address_max_failures = address_max_failures or 3 * max_failures
        self.account_max_failures = account_max_failures or 10 * max_failures
        if self.address_max_failures < 1 or self.account_max_failures < 1:
            raise ValueError("failure limits must be >= 1")
        self.window_s = float(window_s)
        self.lockout_s = float(lockout_s)
        self.max_records = max_records
        self._clock = clock
        self._db = open_state_db(
            self, db_path, _SCHEMA, component="login_failures", migrations=_MIGRATIONS
        )
        self._inserts = 0

    def _limit(self, scope: str) -> int:
        return {
            _PAIR: self.max_failures,
            _ADDR: self.address_max_failures,
            _ACCOUNT: self.account_max_failures,
        }[scope]

    def _count(self, scope: str, key: str, now: float) -> _Count:
        row = (
            self._db.conn()
            .execute(
                "SELECT COUNT(*), MAX(at) FROM login_failures"
                " WHERE scope = ? AND key = ? AND at > ?",
                (scope, key, now - self.window_s),
            )
            .fetchone()
        )
        return _Count.of(row[0], row[1])

    def _wait(self, count: _Count, limit: int, now: float) -> float | None:
        if count.failures < limit:
            return None
        wait = count.last + self.lockout_s - now
        return wait if wait > 0 else None

    def check(self, user: str | None, addr: str | None) -> float | None:
        """Seconds to wait (a ``Retry-After`` value, > 0) before ``user`` may try to log in
        from ``addr``; ``None`` if nothing is locked. When several scopes are locked, the
        longest wait is returned."""
        return self.assess(user, addr).wait

    def assess(self, user: str | None, addr: str | None) -> Assessment:
        """What :meth:`check` answers, and how many failures the (``user``, ``addr``) pair has
        in the window (a later :meth:`record_success` has nothing to clear when there are
        none). The address and pair scopes are read in one query."""
        now = self._clock()
        since = now - self.window_s
        address: _Count | None
        pair: _Count | None
        if addr is not None and user is not None:
            rows = (
                self._db.conn()
                .execute(
                    "SELECT 0, COUNT(*), MAX(at) FROM login_failures"
                    " WHERE scope = ? AND key = ? AND at > ?"
                    " UNION ALL SELECT 1, COUNT(*), MAX(at) FROM login_failures"
                    " WHERE scope = ? AND key = ? AND at > ?",
                    (_ADDR, _addr_key(addr), since, _PAIR, _pair_key(user, addr), since),
                )
                .fetchall()
            )
            counts = {int(part): _Count.of(count, last) for part, count, last in rows}
            address, pair = counts[0], counts[1]
        else:
            address = self._count(_ADDR, _addr_key(addr), now) if addr is not None else None
            pair = self._count(_PAIR, _pair_key(user, addr), now) if user is not None else None
        waits: list[float | None] = []
        if address is not None:
            waits.append(self._wait(address, self.address_max_failures, now))
        if user is not None and pair is not None:
            waits.append(self._wait(pair, self.max_failures, now))
            if pair.failures > 0:  # the backstop only affects addresses that failed
                account = self._count(_ACCOUNT, _user_key(user), now)
                waits.append(self._wait(account, self.account_max_failures, now))
        found = [w for w in waits if w is not None]
        return Assessment(
            wait=max(found) if found else None,
            pair_failures=pair.failures if pair is not None else 0,
        )

    def record_failure(self, user: str | None, addr: str | None) -> None:
        """Count a failed login for ``user`` from ``addr`` in every scope that applies."""
        keys: list[tuple[str, str]] = []
        if addr is not None:
            keys.append((_ADDR, _addr_key(addr)))
        if user is not None:
            keys.append((_PAIR, _pair_key(user, addr)))
            keys.append((_ACCOUNT, _user_key(user)))
        if not keys:
            return
        try:
            self._insert_failures(keys)
        except sqlite3.Error as exc:  # a full disk must not turn a 401 into a 500
            _log.warning("Failed login of %r from %s not recorded: %s", user, addr, exc)

    def _insert_failures(self, keys: list[tuple[str, str]]) -> None:
        with self._db.transaction() as conn:
            now = self._clock()
            for scope, key in keys:
                conn.execute(
                    "INSERT INTO login_failures (scope, key, at) VALUES (?, ?, ?)",
                    (scope, key, now),
                )
                conn.execute(  # keep only as many failures as the limit needs
                    "DELETE FROM login_failures WHERE scope = ? AND key = ? AND id NOT IN"
                    " (SELECT id FROM login_failures WHERE scope = ? AND key = ?"
                    "  ORDER BY at DESC LIMIT ?)",
                    (scope, key, scope, key, self._limit(scope)),
                )
            self._inserts += 1
            if self._inserts % _PURGE_EVERY == 1:
                self._purge(conn, now)

    def _purge(self, conn: StateConnection, now: float) -> None:
        execute = conn.execute
        horizon = now - max(self.window_s, self.lockout_s)
        execute("DELETE FROM login_failures WHERE at <= ?", (horizon,))
        (total,) = execute("SELECT COUNT(*) FROM login_failures").fetchone()
        if total > self.max_records:
            execute(
                "DELETE FROM login_failures WHERE id IN"
                " (SELECT id FROM login_failures ORDER BY at LIMIT ?)",
                (total - self.max_records,),
            )

    def record_success(self, user: str | None, addr: str | None) -> None:
        """Forget the failures of ``user`` from ``addr`` (see the module docstring for what
        is deliberately kept)."""
        if user is None:
            return
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "DELETE FROM login_failures WHERE scope = ? AND key = ?",
                    (_PAIR, _pair_key(user, addr)),
                )
        except sqlite3.Error as exc:
            _log.warning("Successful login of %r not recorded: %s", user, exc)

    def tracked(self) -> tuple[int, int]:
        """Number of (accounts with failures from some address, addresses with failures)
        within the window."""
        now = self._clock()
        conn = self._db.conn()
        since = now - self.window_s
        pairs = conn.execute(
            "SELECT key FROM login_failures WHERE scope = ? AND at > ?", (_PAIR, since)
        ).fetchall()
        (addrs,) = conn.execute(
            "SELECT COUNT(DISTINCT key) FROM login_failures WHERE scope = ? AND at > ?",
            (_ADDR, since),
        ).fetchone()
        return len({key.split(_SEP, 1)[0] for (key,) in pairs}), int(addrs)
