"""Durable upload sessions: rows in the shared state database (SQLite or PostgreSQL), chunk
bytes in files.

Layout: every session owns a directory ``<chunk_root>/<random hex>/``; every stored chunk is
a file ``<random hex>.chunk`` in it, named in the ``upload_chunks`` row that makes it count.

A chunk is received in three steps: the body streams into ``<random>.part``, which is
fsynced and renamed to ``<random>.chunk`` (and the directory fsynced); then one database
transaction checks the session is still open, runs the caller's checks against the chunks
already there and records the new row (replacing an older chunk of the same name, whose file
is then removed). The row is the commit point: a process killed at any step leaves either
the old state or the new one, and at worst an unreferenced file that goes with the session.

Several server processes may share the database and the directory; a session being
assembled carries a lease (token + expiry) so that a second assembler is refused while the
first is alive, and a crashed assembler's session becomes usable again when the lease runs
out.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from davserver.uploads.chunk_bytes import ChunkBytes, LocalChunkBytes
from davserver.uploads.errors import (
    InsufficientSpaceError,
    SessionBusyError,
    SessionCommittedError,
    SessionExistsError,
    SessionNotFoundError,
    TooManySessionsError,
    UploadStoreError,
)
from providers.fsutil import fsync_dir
from providers.statedb import StateConnection, open_db

log = logging.getLogger(__name__)

Clock = Callable[[], float]

OPEN = "open"
ASSEMBLING = "assembling"
COMMITTED = "committed"

KIND_V1 = "nc1"
KIND_V2 = "nc2"
KIND_TUS = "tus"

_FILE_MODE = 0o600

SCHEMA = """
CREATE TABLE IF NOT EXISTS upload_sessions (
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    directory TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    destination TEXT,
    total_length INTEGER,
    mtime_ns INTEGER,
    upload_metadata TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    lease_token TEXT,
    lease_until REAL,
    result_etag TEXT,
    result_file_id TEXT,
    PRIMARY KEY (owner, name)
);
CREATE TABLE IF NOT EXISTS upload_chunks (
    owner TEXT NOT NULL,
    session TEXT NOT NULL,
    name TEXT NOT NULL,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    first_byte INTEGER,
    last_byte INTEGER,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner, session, name),
    FOREIGN KEY (owner, session) REFERENCES upload_sessions (owner, name) ON DELETE CASCADE
);
"""

_SESSION_COLUMNS = (
    "owner, name, kind, directory, state, destination, total_length, mtime_ns, "
    "upload_metadata, created_at, updated_at, lease_token, lease_until, result_etag, "
    "result_file_id"
)


@dataclass(frozen=True, slots=True)
class Session:
    """One upload session as stored."""

    owner: str
    name: str
    kind: str
    directory: str
    state: str
    destination: str | None
    total_length: int | None
    mtime_ns: int | None
    upload_metadata: str | None
    created_at: float
    updated_at: float
    lease_token: str | None
    lease_until: float | None
    result_etag: str | None
    result_file_id: str | None

    @property
    def committed(self) -> bool:
        """True once the assembled file has been committed to its destination."""
        return self.state == COMMITTED

    def busy(self, now: float) -> bool:
        """True while a live assembler holds the session."""
        return self.state == ASSEMBLING and (self.lease_until or 0.0) > now


@dataclass(frozen=True, slots=True)
class Chunk:
    """One received chunk (``start``/``end``: inclusive byte range for range names)."""

    name: str
    file: str
    size: int
    start: int | None
    end: int | None
    created_at: float


class StagedChunk:
    """A chunk body being received into ``<random>.part`` in its session's directory."""

    def __init__(self, directory: Path) -> None:
        """Create the staging file. Raises OSError."""
        self.directory = directory
        self.stem = secrets.token_hex(12)
        self.part_path = directory / f"{self.stem}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        self._fd: int | None = os.open(self.part_path, flags, _FILE_MODE)
        self.size = 0

    @property
    def file_name(self) -> str:
        """The name the chunk file gets once finished."""
        return f"{self.stem}.chunk"

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``. Raises OSError (ENOSPC when the disk is full)."""
        if self._fd is None:
            raise OSError(errno.EBADF, "staged chunk is closed")
        view = memoryview(data).cast("B")
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self.size += written

    def finish(self) -> None:
        """fsync, close and rename to the final ``.chunk`` name, then fsync the directory."""
        if self._fd is None:
            raise OSError(errno.EBADF, "staged chunk is closed")
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(self.part_path, self.directory / self.file_name)
        fsync_dir(self.directory)

    def discard(self) -> None:
        """Close and remove whatever was staged. Idempotent; never raises."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        for path in (self.part_path, self.directory / self.file_name):
            with contextlib.suppress(OSError):
                path.unlink()


def os_error(exc: OSError, doing: str) -> Exception:
    """The upload error an OSError becomes (a full disk is InsufficientSpaceError)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientSpaceError(f"no space left while {doing}")
    return UploadStoreError(f"{doing}: {exc.strerror or exc}")


class SessionStore:
    """Sessions and chunks (see the module docstring). Thread-safe; multi-process safe."""

    def __init__(
        self,
        db_path: Path | str,
        chunk_root: Path,
        clock: Clock,
        chunk_bytes: ChunkBytes | None = None,
    ) -> None:
        """Open the database and the chunk directory. ``chunk_bytes``: where chunks are kept
        besides the local files (``davserver.uploads.chunk_bytes``; default: nowhere).
        Raises UploadStoreError."""
        self.chunk_root = chunk_root
        self.chunk_bytes = chunk_bytes or LocalChunkBytes()
        self._clock = clock
        try:
            chunk_root.mkdir(parents=True, exist_ok=True)
            self._db = open_db(db_path, SCHEMA, component="upload_sessions")
        except OSError as exc:
            raise os_error(exc, "opening the upload store") from exc
        except sqlite3.Error as exc:
            raise UploadStoreError(f"opening the upload database: {exc}") from exc

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self) -> Iterator[StateConnection]:
        try:
            with self._db.transaction() as conn:
                yield conn
        except sqlite3.Error as exc:
            raise UploadStoreError(f"upload database: {exc}") from exc

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return list(self._db.conn().execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise UploadStoreError(f"upload database: {exc}") from exc

    def directory_of(self, session: Session) -> Path:
        """The directory holding ``session``'s chunk files."""
        return self.chunk_root / session.directory

    def chunk_path(self, session: Session, chunk: Chunk) -> Path:
        """The file holding ``chunk``'s bytes (fetched first if another server stored it)."""
        path = self.chunk_root / session.directory / chunk.file
        self.chunk_bytes.fetch(session.directory, chunk.file, path)
        return path

    # ------------------------------------------------------------------ sessions

    def get(self, owner: str, name: str) -> Session | None:
        """The session ``name`` of ``owner`` in any state, or None."""
        rows = self._query(
            f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE owner=? AND name=?",
            (owner, name),
        )
        return _session(rows[0]) if rows else None

    def list_active(self, owner: str) -> list[Session]:
        """``owner``'s sessions that are not committed, by name."""
        rows = self._query(
            f"SELECT {_SESSION_COLUMNS} FROM upload_sessions "
            "WHERE owner=? AND state!=? ORDER BY name",
            (owner, COMMITTED),
        )
        return [_session(r) for r in rows]

    def count_active(self) -> dict[str, int]:
        """How many sessions each owner has that are not committed (owners with none absent)."""
        rows = self._query(
            "SELECT owner, COUNT(*) FROM upload_sessions WHERE state!=? GROUP BY owner",
            (COMMITTED,),
        )
        return {str(owner): int(str(n)) for owner, n in rows}

    def create(
        self,
        owner: str,
        name: str,
        kind: str,
        *,
        max_active: int,
        destination: str | None = None,
        total_length: int | None = None,
        mtime_ns: int | None = None,
        upload_metadata: str | None = None,
    ) -> Session:
        """Create an open session (replacing a committed one of the same name).

        Raises SessionExistsError if an uncommitted session has that name,
        TooManySessionsError if ``owner`` already has ``max_active`` uncommitted sessions,
        UploadStoreError.
        """
        now = self._clock()
        directory = secrets.token_hex(16)
        replaced: Session | None = None
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE owner=? AND name=?",
                (owner, name),
            ).fetchone()
            if row is not None:
                replaced = _session(row)
                if not replaced.committed:
                    raise SessionExistsError(f"upload session {name!r} already exists")
                conn.execute("DELETE FROM upload_sessions WHERE owner=? AND name=?", (owner, name))
            (active,) = conn.execute(
                "SELECT COUNT(*) FROM upload_sessions WHERE owner=? AND state!=?",
                (owner, COMMITTED),
            ).fetchone()
            if active >= max_active:
                raise TooManySessionsError(
                    f"{owner!r} already has {active} open upload sessions (limit {max_active})"
                )
            conn.execute(
                f"INSERT INTO upload_sessions ({_SESSION_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,NULL,NULL,NULL)",
                (
                    owner,
                    name,
                    kind,
                    directory,
                    OPEN,
                    destination,
                    total_length,
                    mtime_ns,
                    upload_metadata,
                    now,
                    now,
                ),
            )
        if replaced is not None:
            self._remove_directory(replaced.directory)
        try:
            (self.chunk_root / directory).mkdir(mode=0o700)
        except OSError as exc:
            self.delete(owner, name)
            raise os_error(exc, "creating the session directory") from exc
        session = self.get(owner, name)
        if session is None:
            raise SessionNotFoundError(f"upload session {name!r} vanished while created")
        return session

    def set_total(self, owner: str, name: str, total: int) -> None:
        """Record the announced total length of an open session."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE upload_sessions SET total_length=? WHERE owner=? AND name=?",
                (total, owner, name),
            )

    def delete(self, owner: str, name: str, *, unless_busy: bool = False) -> Session | None:
        """Remove a session with its chunks; returns it (None if there was none).

        With ``unless_busy``, raises SessionBusyError instead of removing a session a live
        assembler holds.
        """
        now = self._clock()
        with self._tx() as conn:
            row = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE owner=? AND name=?",
                (owner, name),
            ).fetchone()
            if row is None:
                return None
            session = _session(row)
            if unless_busy and session.busy(now):
                raise SessionBusyError(f"upload session {name!r} is being assembled")
            conn.execute("DELETE FROM upload_sessions WHERE owner=? AND name=?", (owner, name))
        self._remove_directory(session.directory)
        return session

    # ------------------------------------------------------------------ chunks

    def chunks(self, owner: str, name: str) -> list[Chunk]:
        """The chunks received for a session, by name."""
        rows = self._query(
            "SELECT name, file, size, first_byte, last_byte, created_at FROM upload_chunks "
            "WHERE owner=? AND session=? ORDER BY name",
            (owner, name),
        )
        return [_chunk(r) for r in rows]

    def stage(self, session: Session) -> StagedChunk:
        """A new staging file in ``session``'s directory. Raises an UploadError."""
        directory = self.directory_of(session)
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
            return StagedChunk(directory)
        except OSError as exc:
            raise os_error(exc, "creating a chunk file") from exc

    def add_chunk(
        self,
        session: Session,
        name: str,
        staged: StagedChunk,
        *,
        start: int | None,
        end: int | None,
        check: Callable[[Session, list[Chunk]], None],
    ) -> Chunk:
        """Make ``staged`` the chunk ``name`` of ``session`` (see the module docstring).

        ``check(session, chunks)`` runs inside the transaction with the current state and
        may raise to refuse the chunk. Raises SessionNotFoundError, SessionCommittedError or
        SessionBusyError when the session changed meanwhile, whatever ``check`` raises, or
        an UploadError for I/O; on any error the staged file is removed.
        """
        try:
            try:
                staged.finish()
            except FileNotFoundError as exc:  # the session was removed meanwhile
                raise SessionNotFoundError(f"upload session {session.name!r} is gone") from exc
            except OSError as exc:
                raise os_error(exc, "storing a chunk") from exc
            self.chunk_bytes.stored(
                session.directory, staged.file_name, staged.directory / staged.file_name
            )
            now = self._clock()
            with self._tx() as conn:
                current = self._require_open(conn, session.owner, session.name, now)
                chunks = [
                    _chunk(r)
                    for r in conn.execute(
                        "SELECT name, file, size, first_byte, last_byte, created_at "
                        "FROM upload_chunks WHERE owner=? AND session=?",
                        (session.owner, session.name),
                    ).fetchall()
                ]
                check(current, chunks)
                old = next((c for c in chunks if c.name == name), None)
                conn.execute(
                    "INSERT INTO upload_chunks (owner, session, name, file, size, "
                    "first_byte, last_byte, created_at) VALUES (?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (owner, session, name) DO UPDATE SET file = excluded.file, "
                    "size = excluded.size, first_byte = excluded.first_byte, "
                    "last_byte = excluded.last_byte, created_at = excluded.created_at",
                    (
                        session.owner,
                        session.name,
                        name,
                        staged.file_name,
                        staged.size,
                        start,
                        end,
                        now,
                    ),
                )
                conn.execute(
                    "UPDATE upload_sessions SET updated_at=? WHERE owner=? AND name=?",
                    (now, session.owner, session.name),
                )
        except BaseException:
            staged.discard()
            raise
        if old is not None:
            with contextlib.suppress(OSError):
                (self.directory_of(current) / old.file).unlink()
            self.chunk_bytes.remove(current.directory, old.file)
        return Chunk(name, staged.file_name, staged.size, start, end, now)

    def delete_chunk(self, owner: str, name: str, chunk_name: str) -> None:
        """Remove one chunk of an open session. SessionNotFoundError if either is absent."""
        now = self._clock()
        with self._tx() as conn:
            session = self._require_open(conn, owner, name, now)
            row = conn.execute(
                "SELECT file FROM upload_chunks WHERE owner=? AND session=? AND name=?",
                (owner, name, chunk_name),
            ).fetchone()
            if row is None:
                raise SessionNotFoundError(f"no chunk {chunk_name!r} in session {name!r}")
            conn.execute(
                "DELETE FROM upload_chunks WHERE owner=? AND session=? AND name=?",
                (owner, name, chunk_name),
            )
            conn.execute(
                "UPDATE upload_sessions SET updated_at=? WHERE owner=? AND name=?",
                (now, owner, name),
            )
        with contextlib.suppress(OSError):
            (self.directory_of(session) / str(row[0])).unlink()
        self.chunk_bytes.remove(session.directory, str(row[0]))

    def _require_open(self, conn: StateConnection, owner: str, name: str, now: float) -> Session:
        row = conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM upload_sessions WHERE owner=? AND name=?",
            (owner, name),
        ).fetchone()
        if row is None:
            raise SessionNotFoundError(f"no upload session {name!r}")
        session = _session(row)
        if session.committed:
            raise SessionCommittedError(f"upload session {name!r} was already committed")
        if session.busy(now):
            raise SessionBusyError(f"upload session {name!r} is being assembled")
        return session

    # ------------------------------------------------------------------ assembly lease

    def acquire(self, owner: str, name: str, token: str, lease_s: float) -> Session:
        """Take the assembly lease of an open session (or of one whose lease ran out).

        Raises SessionNotFoundError, SessionCommittedError or SessionBusyError.
        """
        now = self._clock()
        with self._tx() as conn:
            session = self._require_open(conn, owner, name, now)
            conn.execute(
                "UPDATE upload_sessions SET state=?, lease_token=?, lease_until=?, updated_at=? "
                "WHERE owner=? AND name=?",
                (ASSEMBLING, token, now + lease_s, now, owner, name),
            )
        return session

    def renew(self, owner: str, name: str, token: str, lease_s: float) -> None:
        """Extend a lease this token holds (no-op if it lost it)."""
        now = self._clock()
        with self._tx() as conn:
            conn.execute(
                "UPDATE upload_sessions SET lease_until=?, updated_at=? "
                "WHERE owner=? AND name=? AND lease_token=?",
                (now + lease_s, now, owner, name, token),
            )

    def release(self, owner: str, name: str, token: str) -> None:
        """Give the lease back after a failed assembly: the session is open again."""
        now = self._clock()
        with self._tx() as conn:
            conn.execute(
                "UPDATE upload_sessions SET state=?, lease_token=NULL, lease_until=NULL, "
                "updated_at=? WHERE owner=? AND name=? AND lease_token=?",
                (OPEN, now, owner, name, token),
            )

    def mark_committed(
        self, session: Session, token: str, *, destination: str, etag: str, file_id: str
    ) -> None:
        """Record a successful commit, drop the chunks and remove their files."""
        now = self._clock()
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM upload_chunks WHERE owner=? AND session=?",
                (session.owner, session.name),
            )
            conn.execute(
                "UPDATE upload_sessions SET state=?, lease_token=NULL, lease_until=NULL, "
                "destination=?, result_etag=?, result_file_id=?, updated_at=? "
                "WHERE owner=? AND name=? AND lease_token=?",
                (COMMITTED, destination, etag, file_id, now, session.owner, session.name, token),
            )
        self._remove_directory(session.directory)

    # ------------------------------------------------------------------ expiry

    def expired(self, idle_before: float, committed_before: float) -> list[Session]:
        """Uncommitted sessions idle since before ``idle_before`` and committed records
        older than ``committed_before`` (busy sessions excluded)."""
        now = self._clock()
        rows = self._query(
            f"SELECT {_SESSION_COLUMNS} FROM upload_sessions "
            "WHERE (state!=? AND updated_at<?) OR (state=? AND updated_at<?)",
            (COMMITTED, idle_before, COMMITTED, committed_before),
        )
        return [s for s in (_session(r) for r in rows) if not s.busy(now)]

    def remove_orphan_directories(self) -> int:
        """Remove chunk directories no session refers to; returns how many.

        The directories are listed before the sessions are read, and a session row is
        written before its directory is made, so a session being created is never hit.
        """
        try:
            names = {p.name for p in self.chunk_root.iterdir() if p.is_dir()}
            names |= self.chunk_bytes.directories()
        except OSError as exc:
            raise os_error(exc, "listing upload directories") from exc
        rows = self._query("SELECT directory FROM upload_sessions", ())
        orphans = names - {str(r[0]) for r in rows}
        for name in orphans:
            self._remove_directory(name)
        return len(orphans)

    def _remove_directory(self, directory: str) -> None:
        self.chunk_bytes.remove(directory, None)
        path = self.chunk_root / directory
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove upload directory %s: %s", path, exc)

    def disk_available(self, reserve_bytes: int) -> int:
        """Free bytes on the chunk directory's filesystem above ``reserve_bytes``."""
        try:
            return max(0, shutil.disk_usage(self.chunk_root).free - reserve_bytes)
        except OSError as exc:
            raise os_error(exc, "reading free space") from exc


def _session(row: tuple[object, ...]) -> Session:
    return Session(*row)  # type: ignore[arg-type]


def _chunk(row: tuple[object, ...]) -> Chunk:
    return Chunk(*row)  # type: ignore[arg-type]
