"""Accounts of the WebDAV server, stored in SQLite.

Passwords are stored as argon2id hashes (``argon2.PasswordHasher``); the plain password is never
stored.

HTTP Digest authentication cannot work from such a hash: the server must know
``HA1 = md5("<user>:<realm>:<password>")``. HA1 is *password-equivalent for that realm*: whoever
reads it can authenticate as the user with Digest (for that realm) without knowing the password.
It is therefore stored only for accounts added (or whose password was set) with an explicit
``digest_realm``; accounts without it can use Basic authentication only. Protect the database
file accordingly (file mode 0600, no backups in readable places).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from davserver.auth.errors import InvalidUserNameError, UnknownUserError, UserExistsError
from providers.statedb import open_db

__all__ = ["NAME_RULE", "UserStore", "compute_digest_ha1", "validate_user_name"]

#: Human-readable form of the user naming rule (used in error messages).
NAME_RULE = "1-64 characters of A-Z, a-z, 0-9, '.', '_', '-', not starting with '.'"

_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY NOT NULL,
    pw_hash TEXT NOT NULL,
    digest_ha1 TEXT NULL,
    digest_realm TEXT NULL,
    created REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
"""


def validate_user_name(name: str) -> None:
    """Check ``name`` against :data:`NAME_RULE`.

    Raises:
        InvalidUserNameError: the name breaks the rule (or is not a ``str``).
    """
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise InvalidUserNameError(f"invalid user name {name!r}: must be {NAME_RULE}")


def _is_valid_name(name: str) -> bool:
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


def _check_password(password: str) -> bytes:
    """Return the UTF-8 bytes of a new password; raise ``ValueError`` if it is unusable."""
    if not isinstance(password, str) or not password:
        raise ValueError("password must be a non-empty string")
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("password is not encodable as UTF-8") from exc


def _check_realm(realm: str) -> None:
    if not isinstance(realm, str) or not realm or '"' in realm or "\\" in realm:
        raise ValueError(f"invalid digest realm {realm!r}: must be non-empty, without '\"' or '\\'")


def compute_digest_ha1(name: str, realm: str, password: str) -> str:
    """Return the HTTP Digest (MD5) ``HA1`` for ``name``/``realm``/``password``, as hex.

    The result is password-equivalent for ``realm``: treat it like a plain password.
    """
    data = f"{name}:{realm}:{password}".encode()
    # MD5 is mandated by the Digest scheme; the flag keeps it usable on FIPS-restricted builds.
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class UserStore:
    """Accounts in the ``users`` table of an SQLite database (shared with other stores).

    Columns: ``name`` (primary key), ``pw_hash`` (argon2 hash), ``digest_ha1`` and
    ``digest_realm`` (NULL unless Digest is enabled for the account, see the module docstring),
    ``created`` (UNIX time), ``disabled`` (0/1).

    Safe to use from several threads (each thread gets its own connection) and processes.

    Args:
        db_path: the database file (created with its parent folders if missing) or a
            ``postgresql://`` URL (see ``providers.statedb``).
        hasher: the argon2 hasher; defaults to ``PasswordHasher()`` (RFC 9106 low-memory
            profile). Hashes made with other parameters still verify and are upgraded to the
            current parameters on the next successful :meth:`verify`.
    """

    def __init__(self, db_path: Path | str, *, hasher: PasswordHasher | None = None) -> None:
        self._db = open_db(db_path, _SCHEMA, component="users")
        self._target = db_path
        self._hasher = hasher if hasher is not None else PasswordHasher()
        # Verified against for unknown or invalid names, so that the time taken does not reveal
        # whether an account exists.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))

    @property
    def db_path(self) -> Path | str:
        """The database: a SQLite file or a PostgreSQL URL."""
        return self._target

    def add(self, name: str, password: str, *, digest_realm: str | None = None) -> None:
        """Create an account.

        Args:
            name: the user name, see :data:`NAME_RULE`.
            password: a non-empty password.
            digest_realm: when given, also store the Digest ``HA1`` for this realm (which is
                password-equivalent, see the module docstring); ``None`` means Basic only.

        Raises:
            InvalidUserNameError: ``name`` breaks the naming rule.
            UserExistsError: an account with this name exists.
            ValueError: empty password or invalid realm.
        """
        validate_user_name(name)
        secret = _check_password(password)
        ha1 = None
        if digest_realm is not None:
            _check_realm(digest_realm)
            ha1 = compute_digest_ha1(name, digest_realm, password)
        pw_hash = self._hasher.hash(secret)
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO users (name, pw_hash, digest_ha1, digest_realm, created, disabled)"
                    " VALUES (?, ?, ?, ?, ?, 0)",
                    (name, pw_hash, ha1, digest_realm if ha1 else None, time.time()),
                )
        except sqlite3.IntegrityError as exc:
            raise UserExistsError(f"user {name!r} already exists") from exc

    def set_password(self, name: str, password: str, *, digest_realm: str | None = None) -> None:
        """Replace the password of an account.

        The Digest ``HA1`` is recomputed for ``digest_realm`` when given; otherwise any stored
        ``HA1`` is deleted (it would still accept the old password), so the account becomes
        Basic-only.

        Raises:
            InvalidUserNameError: ``name`` breaks the naming rule.
            UnknownUserError: no such account.
            ValueError: empty password or invalid realm.
        """
        validate_user_name(name)
        secret = _check_password(password)
        ha1 = None
        if digest_realm is not None:
            _check_realm(digest_realm)
            ha1 = compute_digest_ha1(name, digest_realm, password)
        pw_hash = self._hasher.hash(secret)
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE users SET pw_hash = ?, digest_ha1 = ?, digest_realm = ? WHERE name = ?",
                (pw_hash, ha1, digest_realm if ha1 else None, name),
            )
            if cur.rowcount == 0:
                raise UnknownUserError(f"no user {name!r}")

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable (or re-enable) an account; a disabled account never authenticates.

        Raises:
            InvalidUserNameError: ``name`` breaks the naming rule.
            UnknownUserError: no such account.
        """
        validate_user_name(name)
        with self._db.transaction() as conn:
            cur = conn.execute(
                "UPDATE users SET disabled = ? WHERE name = ?", (1 if disabled else 0, name)
            )
            if cur.rowcount == 0:
                raise UnknownUserError(f"no user {name!r}")

    def remove(self, name: str) -> None:
        """Delete an account.

        Raises:
            InvalidUserNameError: ``name`` breaks the naming rule.
            UnknownUserError: no such account.
        """
        validate_user_name(name)
        with self._db.transaction() as conn:
            cur = conn.execute("DELETE FROM users WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise UnknownUserError(f"no user {name!r}")

    def list_names(self) -> list[str]:
        """Names of all accounts (including disabled ones), sorted."""
        rows = self._db.conn().execute("SELECT name FROM users ORDER BY name").fetchall()
        return [str(row[0]) for row in rows]

    def exists(self, name: str) -> bool:
        """True if an account named ``name`` exists (disabled or not); never raises."""
        if not _is_valid_name(name):
            return False
        row = self._db.conn().execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone()
        return row is not None

    def is_disabled(self, name: str) -> bool:
        """True if the account exists and is disabled; never raises."""
        if not _is_valid_name(name):
            return False
        row = (
            self._db.conn().execute("SELECT disabled FROM users WHERE name = ?", (name,)).fetchone()
        )
        return row is not None and bool(row[0])

    def verify(self, name: str, password: str) -> bool:
        """True if ``password`` is the password of the enabled account ``name``; never raises.

        An argon2 verification runs whether or not the account exists (against a dummy hash for
        unknown or invalid names), so response time does not reveal which names exist. After a
        successful check, a hash made with outdated argon2 parameters is replaced.
        """
        row = None
        if _is_valid_name(name):
            row = (
                self._db.conn()
                .execute("SELECT pw_hash, disabled FROM users WHERE name = ?", (name,))
                .fetchone()
            )
        pw_hash: str = str(row[0]) if row is not None else self._dummy_hash
        try:
            secret: bytes | None = password.encode("utf-8")
        except (UnicodeEncodeError, AttributeError):
            secret = None
        ok: bool
        try:
            ok = self._hasher.verify(pw_hash, secret if secret is not None else b"\0")
        except (VerificationError, InvalidHashError):
            ok = False
        if row is None or bool(row[1]) or secret is None or not ok:
            return False
        if self._hasher.check_needs_rehash(pw_hash):
            self._rehash(name, pw_hash, secret)
        return True

    def _rehash(self, name: str, old_hash: str, secret: bytes) -> None:
        new_hash = self._hasher.hash(secret)
        with self._db.transaction() as conn:
            # Only if unchanged meanwhile: a concurrent set_password wins.
            conn.execute(
                "UPDATE users SET pw_hash = ? WHERE name = ? AND pw_hash = ?",
                (new_hash, name, old_hash),
            )

    def digest_ha1(self, name: str, realm: str | None = None) -> str | None:
        """The stored Digest ``HA1`` of the enabled account ``name``, or ``None``; never raises.

        ``None`` when the account is unknown, disabled, or has no ``HA1`` (was not given a
        ``digest_realm``), or when ``realm`` is given and differs from the realm the ``HA1`` was
        computed for.
        """
        if not _is_valid_name(name):
            return None
        row = (
            self._db.conn()
            .execute("SELECT digest_ha1, digest_realm, disabled FROM users WHERE name = ?", (name,))
            .fetchone()
        )
        if row is None or row[0] is None or bool(row[2]):
            return None
        if realm is not None and row[1] != realm:
            return None
        return str(row[0])
