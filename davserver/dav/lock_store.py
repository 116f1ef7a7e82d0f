"""WebDAV lock storage in the state database (SQLite or PostgreSQL, ``providers.statedb``),
shared by every server process that opens the same database.

``SQLiteLockStorage`` is a drop-in replacement for WsgiDAV's ``LockStorageDict``: WsgiDAV's
``LockManager`` calls ``open``, ``close``, ``get``, ``create``, ``refresh``, ``delete`` and
``get_lock_list`` on it. Wire it in with ``config["lock_storage"] = SQLiteLockStorage(path)``.

Lock dictionaries have the same shape as ``LockStorageDict``'s::

    {"token": "opaquelocktoken:0x...", "root": "/a/b", "type": "write",
     "scope": "exclusive" | "shared", "depth": "0" | "infinity",
     "owner": b"<?xml ...?><owner ...>...</owner>",  # XML bytes, possibly b""
     "timeout": 3600.0,       # granted lifetime in seconds (after clamping)
     "principal": "alice",
     "expire": 1700000000.0}  # seconds since the epoch

Contracts:

- Lock roots are normalised like WsgiDAV does (``/`` + path stripped of slashes).
- A lock whose ``expire`` lies in the past is absent: no method returns it, ``refresh`` and
  ``delete`` treat it as unknown, and it is purged when met (or by ``cleanup``).
- Requested timeouts are clamped to ``max_timeout_s``; ``-1`` (infinite) and any other
  negative timeout become ``max_timeout_s`` as well, so every lock expires eventually.
- ``create`` runs in one write transaction (writers serialised across processes and servers:
  SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory lock) that also re-checks lock conflicts
  (the same rules as ``LockManager``). ``LockManager`` checks conflicts under a lock that only
  exists inside one process, so without this re-check two processes could both grant an
  exclusive lock on the same resource. A conflict raises ``DAVError(423 Locked)`` with the
  ``DAV:no-conflicting-lock`` condition, exactly as ``LockManager`` would have.
- More than ``max_locks_per_principal`` live locks for one principal raise
  ``DAVError(507 Insufficient Storage)``: a storage quota, the status RFC 4918 and RFC 4331
  use when the server cannot record more state for a client. (503 would invite retries that
  cannot succeed until the client releases locks.)
- ``refresh`` of an unknown or expired token raises
  ``DAVError(412 Precondition Failed, DAV:lock-token-matches-request-uri)``, the answer
  WsgiDAV gives for a LOCK refresh whose token does not match; another process may have
  released the lock between WsgiDAV's own check and the refresh.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from wsgidav.dav_error import (
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_LOCKED,
    HTTP_PRECONDITION_FAILED,
    DAVError,
    DAVErrorCondition,
    PRECONDITION_CODE_LockConflict,
    PRECONDITION_CODE_LockTokenMismatch,
)
from wsgidav.lock_man.lock_manager import generate_lock_token
from wsgidav.util import get_uri_parent

from providers.statedb import StateConnection, StateDB, open_db

if TYPE_CHECKING:
    from wsgidav._types import LockDict  # a lock as WsgiDAV's LockManager sees it

__all__ = ["DEFAULT_TIMEOUT_S", "SQLiteLockStorage", "lock_roots_up"]

_logger = logging.getLogger(__name__)

#: Lifetime granted when a caller passes ``timeout=None`` (WsgiDAV's default: one week).
DEFAULT_TIMEOUT_S = 7 * 24 * 3600


_SCHEMA = """
CREATE TABLE IF NOT EXISTS dav_locks (
    token     TEXT PRIMARY KEY,
    root      TEXT NOT NULL,
    type      TEXT NOT NULL,
    scope     TEXT NOT NULL,
    depth     TEXT NOT NULL,
    owner     TEXT NOT NULL,
    principal TEXT NOT NULL,
    timeout   REAL NOT NULL,
    expire    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dav_locks_root ON dav_locks (root);
CREATE INDEX IF NOT EXISTS dav_locks_expire ON dav_locks (expire);
CREATE INDEX IF NOT EXISTS dav_locks_principal ON dav_locks (principal, expire);
"""
# Version 1: ``seq`` orders locks by creation (SQLite's rowid did before), on every engine.
_MIGRATIONS = ("ALTER TABLE dav_locks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",)

_COLUMNS = "token, root, type, scope, depth, owner, principal, timeout, expire"


def normalize_root(path: str) -> str:
    """``/`` + ``path`` without leading or trailing slashes (WsgiDAV's lock-root form)."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"lock path must be a non-empty string: {path!r}")
    return "/" + path.strip("/")


def lock_roots_up(url: str) -> list[str]:
    """The lock roots ``LockManager`` walks for ``url``: ``url`` itself, then each parent up to
    ``/``, normalised (``/a/b/`` -> ``/a/b``, ``/a``, ``/``), as ``util.get_uri_parent`` steps."""
    roots: list[str] = []
    u: str | None = url
    while u:
        roots.append(normalize_root(u))
        u = get_uri_parent(u)
    return roots


def _ancestors(root: str) -> list[str]:
    """Proper ancestors of a normalised root, nearest first: ``/a/b`` -> ``/a``, ``/``."""
    out: list[str] = []
    while root != "/":
        root = root.rsplit("/", 1)[0] or "/"
        out.append(root)
    return out


def _descendant_bounds(root: str) -> tuple[str, str]:
    """``(low, high)`` so that ``low <= r < high`` holds exactly for roots below ``root``.

    Children of ``/a/b`` start with ``/a/b/``; ``0`` is the character after ``/``, so the range
    excludes siblings such as ``/a/bc`` and does not depend on LIKE wildcards. For ``/`` the
    range also contains ``/`` itself, which callers exclude explicitly.
    """
    base = "" if root == "/" else root
    return base + "/", base + "0"


def _row_to_lock(row: Sequence[Any]) -> LockDict:  # a row: column values as stored
    token, root, type_, scope, depth, owner, principal, timeout, expire = row
    return {
        "token": token,
        "root": root,
        "type": type_,
        "scope": scope,
        "depth": depth,
        "owner": str(owner).encode("utf-8"),
        "principal": principal,
        "timeout": float(timeout),
        "expire": float(expire),
    }


class SQLiteLockStorage:
    """Lock storage for WsgiDAV's ``LockManager``, kept in the SQLite file ``db_path``.

    Several instances (in one or in several processes) opened on the same file share one set
    of locks. The table is ``dav_locks``; other stores may keep their tables in the same file.

    ``clock`` returns the current time in seconds since the epoch; it exists so expiry can be
    tested deterministically and defaults to ``time.time``.
    """

    def __init__(
        self,
        db_path: Path | str,
        *,
        max_timeout_s: int = 7 * 24 * 3600,
        max_locks_per_principal: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_timeout_s <= 0:
            raise ValueError("max_timeout_s must be positive")
        if max_locks_per_principal <= 0:
            raise ValueError("max_locks_per_principal must be positive")
        self.db_path = db_path
        self.max_timeout_s = max_timeout_s
        self.max_locks_per_principal = max_locks_per_principal
        self._clock = clock
        self._db = open_db(db_path, _SCHEMA, component="dav_locks", migrations=_MIGRATIONS)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._db.display_name!r})"

    # --- life cycle -----------------------------------------------------------------------

    def _database(self) -> StateDB:
        return self._db

    def open(self) -> None:
        """Called by ``LockManager`` before first use; creates the table if needed.

        Idempotent. The storage is usable without it (the constructor opens the file).
        """
        self._database()

    def close(self) -> None:
        """Release this instance's connections (``LockManager.__del__`` calls it).

        Stored locks are unaffected. Any later call reopens the database, so an instance that
        outlives one ``LockManager`` stays usable.
        """
        self._db.close()

    # --- helpers --------------------------------------------------------------------------

    def _normalize_timeout(self, timeout: float | None) -> float:
        """The lifetime actually granted for a requested ``timeout`` (seconds, or -1)."""
        if timeout is None:
            return float(min(DEFAULT_TIMEOUT_S, self.max_timeout_s))
        value = float(timeout)
        if math.isnan(value) or value == 0:
            raise ValueError(f"timeout must be positive or -1: {timeout!r}")
        if value < 0 or value > self.max_timeout_s:
            return float(self.max_timeout_s)
        return value

    def _purge(self, conn: StateConnection, tokens: Sequence[str], now: float) -> None:
        """Delete those of ``tokens`` that are still expired (a refresh elsewhere wins)."""
        for token in tokens:
            conn.execute("DELETE FROM dav_locks WHERE token = ? AND expire < ?", (token, now))
        if tokens:
            _logger.debug("purged %d expired lock(s)", len(tokens))

    def _select_live(self, sql: str, params: Sequence[str]) -> list[LockDict]:
        """Run a SELECT of ``_COLUMNS``; return live locks, purging expired ones it met."""
        conn = self._database().conn()
        now = self._clock()
        rows = conn.execute(sql, params).fetchall()
        live: list[LockDict] = []
        expired: list[str] = []
        for row in rows:
            lock = _row_to_lock(row)
            if lock["expire"] < now:
                expired.append(lock["token"])
            else:
                live.append(lock)
        if expired:
            self._purge(conn, expired, now)
        return live

    # --- LockStorageDict interface --------------------------------------------------------

    def cleanup(self) -> None:
        """Purge all expired locks."""
        with self._database().transaction() as conn:
            conn.execute("DELETE FROM dav_locks WHERE expire < ?", (self._clock(),))

    def clear(self) -> None:
        """Delete all locks (of every process sharing the file)."""
        with self._database().transaction() as conn:
            conn.execute("DELETE FROM dav_locks")

    def get(self, token: str) -> LockDict | None:
        """The lock for ``token``, or None if unknown or expired (an expired one is purged).

        The result is a fresh dictionary; changing it does not change the stored lock.
        """
        locks = self._select_live(f"SELECT {_COLUMNS} FROM dav_locks WHERE token = ?", (token,))
        return locks[0] if locks else None

    def get_direct_locks(self, roots: Sequence[str]) -> list[LockDict]:
        """Live locks whose root is one of ``roots`` (normalised), oldest first, in ONE query.

        What ``get_lock_list(root, include_root=True, ...)`` returns for each of ``roots``,
        together: ``LockManager`` asks once per ancestor of a path, several times a request,
        and this answers such a walk at once. Expired locks met on the way are purged.
        """
        if not roots:
            return []
        marks = ",".join("?" * len(roots))
        return self._select_live(
            f"SELECT {_COLUMNS} FROM dav_locks WHERE root IN ({marks}) ORDER BY seq, token",
            list(roots),
        )

    def create(self, path: str, lock: LockDict) -> LockDict:
        """Store a new direct lock on ``path`` and return ``lock``, completed in place.

        ``lock`` holds ``type``, ``scope``, ``depth``, ``owner`` (XML bytes), ``timeout``
        (seconds, -1 or None) and ``principal``; it must not contain ``token`` or ``expire``.
        On return it also holds ``root`` (normalised ``path``), the granted ``timeout``, the
        ``expire`` time and a new ``token``. ``LockManager`` relies on the in-place update: it
        returns the dictionary it passed, not this method's result.

        Raises ``ValueError`` for a malformed lock, ``DAVError(423)`` if the lock conflicts
        with a live lock (see the module docstring) and ``DAVError(507)`` if the principal
        already holds ``max_locks_per_principal`` live locks.
        """
        if lock.get("token") is not None:
            raise ValueError("create() expects a lock without a token")
        if lock.get("expire") is not None:
            raise ValueError("create() expects a timeout, not an expire time")
        root = normalize_root(path)
        if lock.get("type") != "write":
            raise ValueError(f"lock type must be 'write': {lock.get('type')!r}")
        scope = lock.get("scope")
        if scope not in ("shared", "exclusive"):
            raise ValueError(f"lock scope must be 'shared' or 'exclusive': {scope!r}")
        depth = lock.get("depth")
        if depth not in ("0", "infinity"):
            raise ValueError(f"lock depth must be '0' or 'infinity': {depth!r}")
        principal = lock.get("principal")
        if not isinstance(principal, str):
            raise ValueError(f"lock principal must be a string: {principal!r}")
        owner = lock.get("owner", b"")
        if isinstance(owner, bytes):
            owner_text = owner.decode("utf-8")  # WsgiDAV serialises <owner> as UTF-8
        elif isinstance(owner, str):
            owner_text = owner
        else:
            raise ValueError(f"lock owner must be XML bytes: {owner!r}")
        timeout = self._normalize_timeout(lock.get("timeout"))
        token = str(generate_lock_token())

        with self._database().transaction() as conn:
            now = self._clock()
            conn.execute("DELETE FROM dav_locks WHERE expire < ?", (now,))
            self._raise_on_conflict(conn, root, str(scope), str(depth))
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM dav_locks WHERE principal = ?", (principal,)
            ).fetchone()
            if count >= self.max_locks_per_principal:
                raise DAVError(
                    HTTP_INSUFFICIENT_STORAGE,
                    context_info=(
                        f"Too many locks: at most {self.max_locks_per_principal} per user."
                    ),
                )
            expire = now + timeout
            conn.execute(
                f"INSERT INTO dav_locks ({_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " (SELECT COALESCE(MAX(seq), 0) + 1 FROM dav_locks))",
                (token, root, "write", scope, depth, owner_text, principal, timeout, expire),
            )

        lock["root"] = root
        lock["owner"] = owner_text.encode("utf-8")
        lock["timeout"] = timeout
        lock["expire"] = expire
        lock["token"] = token
        _logger.debug("created lock %s..%s on %r for %r", token[:20], token[-4:], root, principal)
        return lock

    def _raise_on_conflict(self, conn: StateConnection, root: str, scope: str, depth: str) -> None:
        """Raise DAVError(423) if a new lock (root, scope, depth) conflicts with a live lock.

        The rules are ``LockManager._check_lock_permission``'s: a lock on ``root`` or a
        depth-infinity lock on an ancestor conflicts unless both locks are shared; for a
        depth-infinity request, any lock below ``root`` conflicts. Expired locks must have
        been purged by the caller in the same transaction.
        """
        conflicts: list[str] = []
        ancestors = _ancestors(root)
        marks = ",".join("?" * len(ancestors))
        above = conn.execute(
            "SELECT root, scope FROM dav_locks WHERE root = ?"
            + (f" OR (depth = 'infinity' AND root IN ({marks}))" if ancestors else "")
            + " ORDER BY seq, token",
            (root, *ancestors),
        ).fetchall()
        for lock_root, lock_scope in above:
            if not (lock_scope == "shared" and scope == "shared"):
                conflicts.append(lock_root)
        if depth == "infinity":
            low, high = _descendant_bounds(root)
            below = conn.execute(
                "SELECT root FROM dav_locks WHERE root >= ? AND root < ? AND root != ?"
                " ORDER BY seq, token",
                (low, high, root),
            ).fetchall()
            conflicts.extend(lock_root for (lock_root,) in below)
        if conflicts:
            condition = DAVErrorCondition(PRECONDITION_CODE_LockConflict)
            for href in conflicts:
                condition.add_href(href)
            raise DAVError(HTTP_LOCKED, err_condition=condition)

    def refresh(self, token: str, *, timeout: float | None) -> LockDict:
        """Give the live lock ``token`` a new lifetime from now; return the updated lock.

        ``timeout`` is clamped as in ``create``. Raises ``DAVError(412)`` if ``token`` is
        unknown or expired.
        """
        granted = self._normalize_timeout(timeout)
        with self._database().transaction() as conn:
            now = self._clock()
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM dav_locks WHERE token = ? AND expire >= ?",
                (token, now),
            ).fetchone()
            if row is None:
                raise DAVError(
                    HTTP_PRECONDITION_FAILED,
                    context_info="Lock token is unknown or expired.",
                    err_condition=PRECONDITION_CODE_LockTokenMismatch,
                )
            expire = now + granted
            conn.execute(
                "UPDATE dav_locks SET timeout = ?, expire = ? WHERE token = ?",
                (granted, expire, token),
            )
        lock = _row_to_lock(row)
        lock["timeout"] = granted
        lock["expire"] = expire
        return lock

    def delete(self, token: str) -> bool:
        """Delete lock ``token``. True if it was live; False if unknown or already expired."""
        with self._database().transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM dav_locks WHERE token = ? RETURNING expire", (token,)
            )
            rows = cursor.fetchall()
        return bool(rows) and float(rows[0][0]) >= self._clock()

    @overload
    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: Literal[False]
    ) -> list[LockDict]: ...

    @overload
    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: Literal[True]
    ) -> list[str]: ...

    @overload
    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: bool
    ) -> list[LockDict] | list[str]: ...

    def get_lock_list(
        self, path: str, *, include_root: bool, include_children: bool, token_only: bool
    ) -> list[LockDict] | list[str]:
        """Live direct locks on ``path`` and/or strictly below it, oldest first.

        ``include_root``: locks whose root is ``path``; ``include_children``: locks whose root
        lies below ``path`` (``/a/bc`` is not below ``/a/b``). At least one must be true.
        Returns lock dictionaries, or only their tokens if ``token_only``. Expired locks met
        on the way are purged.
        """
        if not include_root and not include_children:
            raise ValueError("include_root or include_children must be true")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"lock path must start with '/': {path!r}")
        root = normalize_root(path)
        clauses: list[str] = []
        params: list[str] = []
        if include_root:
            clauses.append("root = ?")
            params.append(root)
        if include_children:
            low, high = _descendant_bounds(root)
            clauses.append("(root >= ? AND root < ? AND root != ?)")
            params.extend((low, high, root))
        locks = self._select_live(
            f"SELECT {_COLUMNS} FROM dav_locks WHERE {' OR '.join(clauses)} ORDER BY seq, token",
            params,
        )
        if token_only:
            return [lock["token"] for lock in locks]
        return locks
