"""The S3 provider's namespace: one row per file or collection in the state database.

Files point at an immutable object (``object_key``; ``""`` for an empty file, which needs
none); several rows may share one object (COPY). A collection's ``size`` is the total size of
the files below it and its ``version`` changes whenever anything below it changes, so its ETag
``d-<file id>-<version>`` is read, never computed by a walk. Objects no row references any more
are listed in ``s3_garbage`` with the time they became unreferenced; the sweeper deletes them
after a grace period (readers opened before keep working meanwhile).

SQL stays in the SQLite/PostgreSQL common subset (``?`` placeholders, ``ON CONFLICT``, no
rowid). Every function takes a connection; callers group them in one transaction.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from providers.base import Entry
from providers.hashing import Digests
from providers.paths import parent_of
from providers.statedb import StateConnection as Connection

SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_nodes (
    path TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    is_dir INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    file_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    object_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS s3_nodes_parent ON s3_nodes (parent);
CREATE INDEX IF NOT EXISTS s3_nodes_object ON s3_nodes (object_key);
CREATE TABLE IF NOT EXISTS s3_garbage (
    object_key TEXT PRIMARY KEY,
    since_ns INTEGER NOT NULL
);
"""

_COLUMNS = (
    "path, parent, is_dir, size, mtime_ns, ctime_ns, file_id, version, md5, sha1, sha256, "
    "object_key"
)


def new_file_id() -> str:
    """A fresh file id (16 hex characters)."""
    return secrets.token_hex(8)


def new_version() -> int:
    """A fresh collection version (random, fits a signed 64-bit column)."""
    return secrets.randbits(52)


@dataclass(frozen=True, slots=True)
class Node:
    """One row of ``s3_nodes``."""

    path: str
    parent: str
    is_dir: bool
    size: int
    mtime_ns: int
    ctime_ns: int
    file_id: str
    version: int
    md5: str
    sha1: str
    sha256: str
    object_key: str

    @classmethod
    def from_row(cls, row: Any) -> Node:
        """A Node from a ``SELECT {_COLUMNS}`` row."""
        return cls(
            str(row[0]),
            str(row[1]),
            bool(row[2]),
            int(row[3]),
            int(row[4]),
            int(row[5]),
            str(row[6]),
            int(row[7]),
            str(row[8]),
            str(row[9]),
            str(row[10]),
            str(row[11]),
        )

    @property
    def digests(self) -> Digests:
        """The stored digests of a file."""
        return Digests(md5=self.md5, sha1=self.sha1, sha256=self.sha256)

    @property
    def etag(self) -> str:
        """Files: ``<first 24 hex of SHA-256>-<mtime_ns hex>``; collections
        ``d-<file id>-<version hex>``."""
        if self.is_dir:
            return f"d-{self.file_id}-{self.version:x}"
        return f"{self.sha256[:24]}-{self.mtime_ns:x}"

    def entry(self) -> Entry:
        """What ``stat`` reports for this row."""
        return Entry(
            self.path,
            self.is_dir,
            self.size,
            self.mtime_ns,
            self.ctime_ns,
            self.etag,
            self.file_id,
        )


def ancestors(path: str) -> list[str]:
    """Every collection above ``path``, nearest first, ending with the root ``""``."""
    chain: list[str] = []
    current = path
    while current != "":
        current = parent_of(current)
        chain.append(current)
    return chain


def _below_clause(path: str) -> tuple[str, list[object]]:
    """A WHERE fragment matching every row strictly below ``path``."""
    if path == "":
        return "path <> ''", []
    prefix = path + "/"
    return "substr(path, 1, ?) = ?", [len(prefix), prefix]


def ensure_root(conn: Connection) -> None:
    """Create the root collection row if missing."""
    now = time.time_ns()
    conn.execute(
        f"INSERT INTO s3_nodes ({_COLUMNS}) VALUES ('', '', 1, 0, ?, ?, ?, ?, '', '', '', '') "
        "ON CONFLICT (path) DO NOTHING",
        (now, now, new_file_id(), new_version()),
    )


def get(conn: Connection, path: str) -> Node | None:
    """The row of ``path`` or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM s3_nodes WHERE path = ?", (path,)).fetchone()
    return None if row is None else Node.from_row(row)


def get_many(conn: Connection, paths: Sequence[str], batch: int = 500) -> dict[str, Node]:
    """The rows of those ``paths`` that exist, keyed by path (``batch`` paths per query)."""
    found: dict[str, Node] = {}
    unique = list(dict.fromkeys(paths))
    for start in range(0, len(unique), batch):
        part = unique[start : start + batch]
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM s3_nodes WHERE path IN ({marks})", part
        ).fetchall()
        for row in rows:
            node = Node.from_row(row)
            found[node.path] = node
    return found


def children(conn: Connection, path: str) -> list[Node]:
    """The rows directly below collection ``path``, sorted by name (code points)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM s3_nodes WHERE parent = ? AND path <> ''", (path,)
    ).fetchall()
    return sorted((Node.from_row(r) for r in rows), key=lambda n: n.path)


def subtree(conn: Connection, path: str) -> list[Node]:
    """Every row strictly below ``path``, parents before children."""
    clause, params = _below_clause(path)
    rows = conn.execute(f"SELECT {_COLUMNS} FROM s3_nodes WHERE {clause}", params).fetchall()
    return sorted((Node.from_row(r) for r in rows), key=lambda n: (n.path.count("/"), n.path))


def insert(conn: Connection, node: Node) -> None:
    """Insert (or fully replace) the row of ``node.path``."""
    values = (
        node.path,
        node.parent,
        int(node.is_dir),
        node.size,
        node.mtime_ns,
        node.ctime_ns,
        node.file_id,
        node.version,
        node.md5,
        node.sha1,
        node.sha256,
        node.object_key,
    )
    conn.execute(
        f"INSERT INTO s3_nodes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (path) DO UPDATE SET parent = excluded.parent, is_dir = excluded.is_dir, "
        "size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, "
        "file_id = excluded.file_id, version = excluded.version, md5 = excluded.md5, "
        "sha1 = excluded.sha1, sha256 = excluded.sha256, object_key = excluded.object_key",
        values,
    )


def replace_file(conn: Connection, old: Node, new: Node) -> bool:
    """Swap file row ``old`` for ``new`` if ``old`` is still current (compare-and-swap on
    version and ETag inputs). False if someone else changed it first."""
    cursor = conn.execute(
        "UPDATE s3_nodes SET size = ?, mtime_ns = ?, ctime_ns = ?, version = ?, md5 = ?, "
        "sha1 = ?, sha256 = ?, object_key = ? "
        "WHERE path = ? AND is_dir = 0 AND version = ? AND object_key = ? AND mtime_ns = ?",
        (
            new.size,
            new.mtime_ns,
            new.ctime_ns,
            new.version,
            new.md5,
            new.sha1,
            new.sha256,
            new.object_key,
            old.path,
            old.version,
            old.object_key,
            old.mtime_ns,
        ),
    )
    return int(cursor.rowcount) == 1


def remove(conn: Connection, path: str) -> list[Node]:
    """Delete ``path`` and everything below it; returns the removed rows."""
    gone = subtree(conn, path)
    top = get(conn, path)
    if top is not None:
        gone.append(top)
    clause, params = _below_clause(path)
    conn.execute(f"DELETE FROM s3_nodes WHERE {clause}", params)
    conn.execute("DELETE FROM s3_nodes WHERE path = ?", (path,))
    return gone


def rename(conn: Connection, node: Node, new_path: str) -> None:
    """Give ``node`` the path ``new_path`` (its parent follows)."""
    conn.execute(
        "UPDATE s3_nodes SET path = ?, parent = ? WHERE path = ?",
        (new_path, parent_of(new_path), node.path),
    )


def add_size(conn: Connection, paths: Iterable[str], delta: int) -> None:
    """Add ``delta`` to the size of each collection in ``paths``."""
    if delta:
        for path in paths:
            conn.execute("UPDATE s3_nodes SET size = size + ? WHERE path = ?", (delta, path))


def bump(conn: Connection, paths: Iterable[str]) -> None:
    """Give each collection in ``paths`` a new version (so a new ETag)."""
    for path in paths:
        conn.execute(
            "UPDATE s3_nodes SET version = ? WHERE path = ? AND is_dir = 1",
            (new_version(), path),
        )


def touch(conn: Connection, path: str, now: int) -> None:
    """Set the mtime and ctime of collection ``path`` to ``now``."""
    conn.execute(
        "UPDATE s3_nodes SET mtime_ns = ?, ctime_ns = ? WHERE path = ? AND is_dir = 1",
        (now, now, path),
    )


def set_times(conn: Connection, path: str, mtime_ns: int, ctime_ns: int) -> None:
    """Store a new mtime (and ctime) for ``path``."""
    conn.execute(
        "UPDATE s3_nodes SET mtime_ns = ?, ctime_ns = ? WHERE path = ?",
        (mtime_ns, ctime_ns, path),
    )


def release(conn: Connection, keys: Iterable[str], now: int) -> None:
    """Record objects that may have lost their last reference (the sweeper checks again)."""
    for key in set(keys):
        if key:
            conn.execute(
                "INSERT INTO s3_garbage (object_key, since_ns) VALUES (?, ?) "
                "ON CONFLICT (object_key) DO UPDATE SET since_ns = excluded.since_ns",
                (key, now),
            )


def is_referenced(conn: Connection, key: str) -> bool:
    """True if some row points at object ``key``."""
    row = conn.execute("SELECT 1 FROM s3_nodes WHERE object_key = ? LIMIT 1", (key,)).fetchone()
    return row is not None


def garbage_before(conn: Connection, cutoff_ns: int) -> list[str]:
    """Released objects older than ``cutoff_ns``."""
    rows = conn.execute(
        "SELECT object_key FROM s3_garbage WHERE since_ns < ?", (cutoff_ns,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def known_keys(conn: Connection) -> Iterator[str]:
    """Every object key a row or the garbage list names."""
    for row in conn.execute("SELECT DISTINCT object_key FROM s3_nodes").fetchall():
        yield str(row[0])
    for row in conn.execute("SELECT object_key FROM s3_garbage").fetchall():
        yield str(row[0])


def forget_garbage(conn: Connection, key: str) -> None:
    """Drop ``key`` from the garbage list."""
    conn.execute("DELETE FROM s3_garbage WHERE object_key = ?", (key,))
