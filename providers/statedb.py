"""Where the server's shared state lives: one interface, an embedded SQLite file or PostgreSQL.

Every store of server state (users, login throttle, Digest nonces, locks, dead properties,
upload sessions, the collection journal and queue) opens its database with ``open_db``:

- a filesystem path opens the embedded SQLite file (``providers.sqlite.ThreadLocalDB``);
- a ``postgresql://`` URL opens a PostgreSQL database (``providers.postgres.PostgresDB``).

The contract store code is written against (both engines honour it):

- ``db.conn()`` is this thread's connection; a statement run on it outside a transaction
  commits by itself (autocommit).
- ``with db.transaction() as conn:`` is one write transaction, committed on success and rolled
  back on error. Writers are serialised across every process sharing the database (SQLite
  ``BEGIN IMMEDIATE``; PostgreSQL a transaction-scoped advisory lock), so check-then-insert
  code (a LOCK that looks for conflicts, then inserts) is correct across servers.
- ``conn.execute(sql, params)`` returns a cursor (``fetchone``, ``fetchall``, ``rowcount``,
  iteration); ``conn.executemany(sql, rows)``.
- SQL is written once, with ``?`` placeholders, in the subset both engines accept: upserts as
  ``INSERT ... ON CONFLICT (cols) DO UPDATE SET c = excluded.c`` or ``DO NOTHING``; new ids via
  ``INSERT ... RETURNING id``; no ``rowid``, no ``INSERT OR REPLACE``; quote the column name
  ``"user"`` (a reserved word in PostgreSQL).
- The schema string uses SQLite DDL (``INTEGER``, ``REAL``, ``BLOB``, ``TEXT``,
  ``INTEGER PRIMARY KEY AUTOINCREMENT``, ``WITHOUT ROWID``); the PostgreSQL side translates it.
- Errors are ``sqlite3.Error`` subclasses on both engines (``IntegrityError`` for a broken
  constraint, ``OperationalError`` for a lost connection), so store code has one ``except``.
- ``migrations`` is the ordered list of schema changes after ``schema`` (a list of SQL
  scripts); the version reached per ``component`` is kept in the table ``schema_versions``
  and the missing steps are applied in one write transaction when the database is opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from providers.sqlite import ThreadLocalDB

Dialect = Literal["sqlite", "postgresql"]

SCHEMA_VERSIONS = """
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
);
"""


class StateCursor(Protocol):
    """What a statement returns on either engine."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class StateConnection(Protocol):
    """One connection of either engine (``sqlite3.Connection`` satisfies it)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> StateCursor: ...

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> StateCursor: ...


class StateDB(Protocol):
    """A database of server state, shared by every server process opened on the same target."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def display_name(self) -> str:
        """Where the data lives, for messages and logs (never a password)."""
        ...

    def conn(self) -> StateConnection: ...

    def ddl(self, script: str) -> list[str]:
        """The statements of SQLite-dialect DDL ``script`` as this engine runs them."""
        ...

    def transaction(self) -> AbstractContextManager[StateConnection]: ...

    def close(self) -> None: ...


def is_postgres_url(target: Path | str) -> bool:
    """True if ``target`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return isinstance(target, str) and target.split("://", 1)[0].lower() in (
        "postgresql",
        "postgres",
    )


def redact_url(url: str) -> str:
    """``url`` without its password (for start-up text, logs and error messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def open_db(
    target: Path | str,
    schema: str,
    *,
    component: str = "",
    migrations: Sequence[str] = (),
) -> StateDB:
    """The state database at ``target`` (a SQLite file path or a ``postgresql://`` URL) with
    ``schema`` created (idempotent DDL) and ``component``'s ``migrations`` applied.

    Raises ``sqlite3.OperationalError`` (a subclass of it for PostgreSQL) when the database
    cannot be reached or created.
    """
    db: StateDB
    if is_postgres_url(target):
        from providers.postgres import PostgresDB  # the driver is only needed for PostgreSQL

        db = PostgresDB(str(target), schema)
    else:
        db = ThreadLocalDB(Path(target), schema)
    if component:
        apply_migrations(db, component, migrations)
    return db


def split_statements(script: str) -> list[str]:
    """The statements of a DDL script (split on ``;``; the scripts hold no ``;`` in text)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def apply_migrations(db: StateDB, component: str, migrations: Sequence[str]) -> int:
    """Apply the steps of ``migrations`` that ``component`` has not reached yet, in one write
    transaction, and record the version reached; returns it."""
    with db.transaction() as conn:
        for statement in split_statements(SCHEMA_VERSIONS):
            conn.execute(statement)
        row = conn.execute(
            "SELECT version FROM schema_versions WHERE component = ?", (component,)
        ).fetchone()
        reached = int(row[0]) if row else 0
        if reached > len(migrations):
            raise sqlite3.OperationalError(
                f"state database {db.display_name}: {component} schema version {reached} is "
                f"newer than this server knows ({len(migrations)}); upgrade the server"
            )
        for script in migrations[reached:]:
            for statement in db.ddl(script):
                conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_versions (component, version) VALUES (?, ?)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            (component, len(migrations)),
        )
    return len(migrations)
