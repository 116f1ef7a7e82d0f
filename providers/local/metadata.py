"""The metadata store: digests, stat snapshot and file id of every known path.

A row is *current* for a file when its (inode, size, mtime_ns, ctime_ns) equal the file's
``lstat``; only then are its digests trusted. The ctime is part of the snapshot because
user space cannot set it, so an in-place rewrite that restores size and mtime is still
noticed. Collections have rows too (for their file ids); their stat columns are informative.

Sub-tree operations use range conditions (``path >= prefix/ AND path < prefix0``; ``0``
follows ``/`` in byte order) instead of LIKE, whose wildcards could appear in names.
All methods raise sqlite3.Error; callers translate it.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat as stat_module
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from providers.hashing import Digests
from providers.sqlite import ThreadLocalDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_files (
    path      TEXT PRIMARY KEY,
    is_dir    INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    ctime_ns  INTEGER NOT NULL,
    md5       TEXT,
    sha1      TEXT,
    sha256    TEXT,
    hash_etag INTEGER NOT NULL DEFAULT 0,
    file_id   TEXT NOT NULL UNIQUE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS local_folders (
    path          TEXT PRIMARY KEY,
    inode         INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    seen_mtime_ns INTEGER NOT NULL
) WITHOUT ROWID;
"""
"""``local_folders`` (see ``providers.local.tree``) came later; databases without it get the
table on open and their folders are measured once on first use (the provider's start-up)."""

_COLUMNS = "path, is_dir, inode, size, mtime_ns, ctime_ns, md5, sha1, sha256, hash_etag, file_id"
_IN_CHUNK = 500


def new_file_id() -> str:
    """A fresh file id: 16 random hex characters."""
    return secrets.token_hex(8)


def same_version(a: os.stat_result, b: os.stat_result) -> bool:
    """True if two ``stat`` results describe the same, unchanged file version."""
    return (a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_ino,
        b.st_size,
        b.st_mtime_ns,
        b.st_ctime_ns,
    )


def db_int(value: int) -> int:
    """Fold unsigned 64-bit values (inode numbers) into SQLite's signed range."""
    return value - (1 << 64) if value >= (1 << 63) else value


_NS_MIN, _NS_MAX = -(1 << 63), (1 << 63) - 1


def db_ns(value: int) -> int:
    """A time in nanoseconds as recorded: clamped to SQLite's signed 64-bit range (before
    1677 or after 2262 a file system such as ext4 can keep times that do not fit). Only
    compared, never reported: two far times recorded alike still differ in ``ctime_ns``,
    which the kernel sets to the present whenever a time changes."""
    return _NS_MIN if value < _NS_MIN else _NS_MAX if value > _NS_MAX else value


@dataclass(frozen=True, slots=True)
class Row:
    """One metadata row.

    ``hash_etag`` says the ETag is derived from the content hash (versions the provider
    wrote itself); otherwise it is derived from the stat snapshot, so it stays the same when
    a file that changed behind the provider's back is re-hashed later.
    """

    path: str
    is_dir: bool
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    digests: Digests | None
    hash_etag: bool
    file_id: str

    @classmethod
    def from_stat(
        cls,
        path: str,
        st: os.stat_result,
        *,
        file_id: str,
        digests: Digests | None = None,
        hash_etag: bool = False,
    ) -> Row:
        """A row describing ``st`` (a file unless ``st`` is a directory)."""
        return cls(
            path=path,
            is_dir=stat_module.S_ISDIR(st.st_mode),
            inode=db_int(st.st_ino),
            size=st.st_size,
            mtime_ns=db_ns(st.st_mtime_ns),
            ctime_ns=db_ns(st.st_ctime_ns),
            digests=digests,
            hash_etag=hash_etag and digests is not None,
            file_id=file_id,
        )

    def matches(self, st: os.stat_result) -> bool:
        """True if this file row describes exactly the version ``st`` reports."""
        return (
            not self.is_dir
            and self.inode == db_int(st.st_ino)
            and self.size == st.st_size
            and self.mtime_ns == db_ns(st.st_mtime_ns)
            and self.ctime_ns == db_ns(st.st_ctime_ns)
        )

    def with_stat(self, st: os.stat_result, path: str | None = None) -> Row:
        """This row (moved to ``path`` if given) with its snapshot replaced by ``st``; the
        digests are kept, so only use it when the content is known to be unchanged."""
        return replace(
            self,
            path=self.path if path is None else path,
            inode=db_int(st.st_ino),
            size=st.st_size,
            mtime_ns=db_ns(st.st_mtime_ns),
            ctime_ns=db_ns(st.st_ctime_ns),
        )

    def _params(self) -> tuple[object, ...]:
        d = self.digests
        return (
            self.path,
            int(self.is_dir),
            self.inode,
            self.size,
            self.mtime_ns,
            self.ctime_ns,
            d.md5 if d else None,
            d.sha1 if d else None,
            d.sha256 if d else None,
            int(self.hash_etag),
            self.file_id,
        )


def _row(values: Sequence[Any]) -> Row:
    path, is_dir, inode, size, mtime_ns, ctime_ns, md5, sha1, sha256, hash_etag, file_id = values
    digests = None
    if md5 is not None and sha1 is not None and sha256 is not None:
        digests = Digests(md5, sha1, sha256)
    # positional, in field order (this runs for every member of a listing)
    kind, etag_from_hash = bool(is_dir), bool(hash_etag)
    return Row(path, kind, inode, size, mtime_ns, ctime_ns, digests, etag_from_hash, file_id)


def _below(prefix: str) -> tuple[str, str]:
    return prefix + "/", prefix + "0"


class MetadataStore:
    """Rows of ``local_files`` in ``db_path`` (shared by threads and processes)."""

    def __init__(self, db_path: Path) -> None:
        """Open (and create) the database. Raises sqlite3.Error or OSError."""
        self._db = ThreadLocalDB(db_path, SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the calls made in the block (same thread) into one write transaction."""
        with self._db.transaction():
            yield

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (for other tables of the same database, so that their
        changes join the transaction of ``transaction``)."""
        return self._db.conn()

    def get(self, path: str) -> Row | None:
        """The row of ``path``, if any."""
        cur = self._db.conn().execute(f"SELECT {_COLUMNS} FROM local_files WHERE path = ?", (path,))
        found = cur.fetchone()
        return _row(found) if found else None

    def get_many(self, paths: Sequence[str]) -> dict[str, Row]:
        """Rows of those ``paths`` that have one."""
        result: dict[str, Row] = {}
        conn = self._db.conn()
        for start in range(0, len(paths), _IN_CHUNK):
            chunk = paths[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            cur = conn.execute(
                f"SELECT {_COLUMNS} FROM local_files WHERE path IN ({marks})", tuple(chunk)
            )
            for values in cur:
                row = _row(values)
                result[row.path] = row
        return result

    def put(self, row: Row) -> None:
        """Insert or replace the row of ``row.path``."""
        self.put_many([row])

    def put_many(self, rows: Iterable[Row]) -> None:
        """Insert or replace several rows."""
        self._db.conn().executemany(
            f"INSERT OR REPLACE INTO local_files ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [r._params() for r in rows],
        )

    def ensure(self, path: str, st: os.stat_result) -> Row:
        """The row of ``path``, creating one with a new file id if there is none or if the
        existing row describes the other kind (file vs collection). Call inside
        ``transaction`` when other writers may race."""
        current = self.get(path)
        fresh = Row.from_stat(path, st, file_id=new_file_id())
        if current is None or current.is_dir != fresh.is_dir:
            self.put(fresh)
            return fresh
        return current

    def delete(self, path: str) -> int:
        """Delete the row of ``path`` only; returns the number of rows removed."""
        cur = self._db.conn().execute("DELETE FROM local_files WHERE path = ?", (path,))
        return cur.rowcount

    def delete_tree(self, path: str) -> int:
        """Delete the rows (and folder states) of ``path`` and everything below it; returns
        the number of file rows removed."""
        lo, hi = _below(path)
        self._db.conn().execute(
            "DELETE FROM local_folders WHERE path = ? OR (path >= ? AND path < ?)",
            (path, lo, hi),
        )
        cur = self._db.conn().execute(
            "DELETE FROM local_files WHERE path = ? OR (path >= ? AND path < ?)",
            (path, lo, hi),
        )
        return cur.rowcount

    def move_tree(self, src: str, dst: str) -> int:
        """Re-key the rows of ``src`` and everything below it to ``dst``; returns the count.

        Rows at ``dst`` must have been deleted first. Folder states move along.
        """
        lo, hi = _below(src)
        self._db.conn().execute(
            "UPDATE local_folders SET path = ? || substr(path, ?) "
            "WHERE path = ? OR (path >= ? AND path < ?)",
            (dst, len(src) + 1, src, lo, hi),
        )
        cur = self._db.conn().execute(
            "UPDATE local_files SET path = ? || substr(path, ?) "
            "WHERE path = ? OR (path >= ? AND path < ?)",
            (dst, len(src) + 1, src, lo, hi),
        )
        return cur.rowcount

    def tree(self, path: str) -> list[Row]:
        """Rows strictly below ``path`` (every row for the root)."""
        if path == "":
            cur = self._db.conn().execute(f"SELECT {_COLUMNS} FROM local_files")
        else:
            lo, hi = _below(path)
            cur = self._db.conn().execute(
                f"SELECT {_COLUMNS} FROM local_files WHERE path >= ? AND path < ?", (lo, hi)
            )
        return [_row(values) for values in cur]

    def all_kinds(self) -> list[tuple[str, bool]]:
        """(path, is_dir) of every row."""
        cur = self._db.conn().execute("SELECT path, is_dir FROM local_files")
        return [(str(p), bool(d)) for p, d in cur]

    def delete_paths(self, paths: Sequence[str]) -> int:
        """Delete the rows of exactly ``paths``; returns the count."""
        conn = self._db.conn()
        removed = 0
        for start in range(0, len(paths), _IN_CHUNK):
            chunk = paths[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            cur = conn.execute(f"DELETE FROM local_files WHERE path IN ({marks})", tuple(chunk))
            removed += cur.rowcount
            conn.execute(f"DELETE FROM local_folders WHERE path IN ({marks})", tuple(chunk))
        return removed
