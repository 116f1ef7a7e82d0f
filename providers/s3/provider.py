"""``S3Provider``: file bytes as immutable objects in S3, the namespace in the state database.

A write streams through the three digests into a local staging file, uploads it as a new
object (boto3 managed transfer, multipart for big files), then ONE database transaction checks
the preconditions and swaps the namespace row. Readers therefore see the old or the new
object, never a partial one; an upload that fails (object store unreachable:
``StorageUnavailableError``) changes nothing. MOVE and COPY only touch rows (a copy shares the
immutable object). Replaced and deleted objects are released to the garbage list and deleted
by ``sweep`` after a grace period (``providers.s3.sweeper``).

Several server processes may share one state database and one bucket prefix: the database
transaction serialises commits, and nothing is cached in the process.
"""

from __future__ import annotations

import io
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from providers.base import CommitResult, Entry, Usage
from providers.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidPathError,
    NotFoundError,
    PreconditionFailedError,
    ProviderError,
)
from providers.hashing import Digests, MultiHasher
from providers.local.expectations import check_expectations
from providers.local.oserrors import map_db_error, map_os_error
from providers.paths import PathPolicy, is_within, name_of, normalize, parent_of
from providers.s3 import namespace as ns
from providers.s3.location import S3Access, S3ConfigError, S3Location, make_client
from providers.s3.objects import ObjectStore
from providers.s3.sweeper import SweepReport, sweep
from providers.statedb import is_postgres_url, open_db

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 3600.0
STATE_FILE = "s3-namespace.sqlite"


@contextmanager
def _db_errors() -> Iterator[None]:
    try:
        yield
    except ProviderError:
        raise
    except sqlite3.Error as exc:
        raise map_db_error(exc) from exc


class S3Provider:
    """The Provider protocol over an S3 bucket prefix plus a namespace database."""

    def __init__(
        self,
        location: S3Location | str,
        access: S3Access,
        state: Path | str,
        *,
        staging_dir: Path | None = None,
        path_policy: PathPolicy | None = None,
        grace_s: float = DEFAULT_GRACE_S,
    ) -> None:
        """``location``: ``s3://bucket/prefix``; ``state``: the namespace database as
        ``providers.statedb.open_db`` takes it (a ``postgresql://`` URL, a SQLite file, or a
        folder that gets ``s3-namespace.sqlite``); ``staging_dir``: where writes are staged
        before upload (default: ``s3-staging`` next to a SQLite file; required with a URL).
        Creates the bucket if missing. Raises S3ConfigError, StorageIOError,
        StorageUnavailableError."""
        self.location = S3Location.parse(location) if isinstance(location, str) else location
        self.objects = ObjectStore(make_client(access), self.location)
        target: Path | str = state
        if not is_postgres_url(state):
            target = Path(state)
            if target.is_dir() or not target.suffix:
                target.mkdir(parents=True, exist_ok=True)
                target = target / STATE_FILE
            staging_dir = staging_dir or target.parent / "s3-staging"
        if staging_dir is None:
            raise S3ConfigError("a staging folder is needed when the state is a database URL")
        self.staging_dir = staging_dir
        self.staging_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.policy = path_policy or PathPolicy()
        self.grace_s = grace_s
        with _db_errors():
            self.db = open_db(target, ns.SCHEMA, component="s3-namespace")
            with self.db.transaction() as conn:
                ns.ensure_root(conn)
        self.objects.ensure_bucket()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    # ----------------------------------------------------------------- helpers

    def _require(self, conn: Any, path: str) -> ns.Node:
        node = ns.get(conn, path)
        if node is None:
            raise NotFoundError(f"{path!r} does not exist")
        return node

    def _require_parent_dir(self, conn: Any, path: str) -> None:
        parent = ns.get(conn, parent_of(path))
        if parent is None or not parent.is_dir:
            raise ConflictError(f"the parent of {path!r} is not a collection")

    def _check_new_name(self, conn: Any, path: str) -> None:
        if self.policy.windows_compatible:
            siblings = [name_of(n.path) for n in ns.children(conn, parent_of(path))]
            self.policy.check_new_name(name_of(path), siblings)

    def _changed(self, conn: Any, path: str, *, include_self: bool = False) -> None:
        """A member of ``parent_of(path)`` appeared or went away: touch it, bump the chain."""
        if path != "":
            ns.touch(conn, parent_of(path), time.time_ns())
        ns.bump(conn, ([path] if include_self else []) + ns.ancestors(path))

    def _remove(self, conn: Any, path: str) -> None:
        """Remove ``path`` (and below) inside a transaction, releasing its objects."""
        gone = ns.remove(conn, path)
        top = next(n for n in gone if n.path == path)
        ns.release(conn, (n.object_key for n in gone if not n.is_dir), time.time_ns())
        ns.add_size(conn, ns.ancestors(path), -top.size)
        self._changed(conn, path)

    # ------------------------------------------------------------------- reads

    def stat(self, path: str) -> Entry:
        """Describe ``path``. NotFoundError, InvalidPathError."""
        p = normalize(path)
        with _db_errors():
            return self._require(self.db.conn(), p).entry()

    def listdir(self, path: str) -> list[Entry]:
        """Members of collection ``path`` sorted by name. NotFoundError, ConflictError."""
        p = normalize(path)
        with _db_errors():
            conn = self.db.conn()
            if not self._require(conn, p).is_dir:
                raise ConflictError(f"{p!r} is not a collection")
            return [n.entry() for n in ns.children(conn, p)]

    def _file(self, path: str) -> ns.Node:
        p = normalize(path)
        with _db_errors():
            node = self._require(self.db.conn(), p)
        if node.is_dir:
            raise ConflictError(f"{p!r} is a collection")
        return node

    def open_read(self, path: str) -> BinaryIO:
        """A seekable reader of the current object (ranged GETs). NotFoundError,
        ConflictError; read errors surface as StorageUnavailableError / StorageIOError."""
        node = self._file(path)
        if not node.object_key:
            return io.BytesIO(b"")
        return self.objects.open(node.object_key, node.size)

    def digests(self, path: str) -> Digests:
        """The digests computed when the content was written. NotFoundError, ConflictError."""
        return self._file(path).digests

    def digests_many(self, paths: Sequence[str]) -> dict[str, Digests]:
        """Digests of the files among ``paths`` (keyed as given) from one query per 500
        paths; absent, invalid paths and collections are left out."""
        wanted: dict[str, str] = {}
        for path in paths:
            try:
                wanted[path] = normalize(path)
            except InvalidPathError:
                continue
        with _db_errors():
            nodes = ns.get_many(self.db.conn(), list(wanted.values()))
        result: dict[str, Digests] = {}
        for given, p in wanted.items():
            node = nodes.get(p)
            if node is not None and not node.is_dir:
                result[given] = node.digests
        return result

    def free_space(self) -> int | None:
        """Unknown for an object store (None)."""
        return None

    def usage(self, path: str) -> Usage:
        """Bytes stored below ``path`` (read from the namespace); available is unknown."""
        p = normalize(path)
        with _db_errors():
            return Usage(used=self._require(self.db.conn(), p).size, available=None)

    # ------------------------------------------------------------------ writes

    def begin_write(self, path: str) -> S3WriteHandle:
        """Start a staged write. ConflictError (root, a collection, parent not a collection)."""
        p = normalize(path)
        if p == "":
            raise ConflictError("the root is a collection")
        with _db_errors():
            conn = self.db.conn()
            self._require_parent_dir(conn, p)
            node = ns.get(conn, p)
        if node is not None and node.is_dir:
            raise ConflictError(f"{p!r} is a collection")
        return S3WriteHandle(self, p)

    def _check_preconditions(
        self, conn: Any, path: str, if_match: str | None, if_none_match_any: bool
    ) -> ns.Node | None:
        self._require_parent_dir(conn, path)
        current = ns.get(conn, path)
        if current is not None and current.is_dir:
            raise ConflictError(f"{path!r} is a collection")
        if if_none_match_any and current is not None:
            raise PreconditionFailedError(f"{path!r} exists")
        if if_match is not None and (current is None or current.etag != if_match):
            raise PreconditionFailedError(f"{path!r} does not have ETag {if_match!r}")
        return current

    def _commit(
        self,
        path: str,
        staged: Path | None,
        size: int,
        digests: Digests,
        *,
        mtime_ns: int,
        if_match: str | None,
        if_none_match_any: bool,
    ) -> tuple[Entry, bool]:
        """Upload ``staged`` as a new object and swap the row in one transaction."""
        with _db_errors():  # fail fast before uploading anything
            self._check_preconditions(self.db.conn(), path, if_match, if_none_match_any)
        key = ""
        if staged is not None and size > 0:
            key = self.objects.new_key()
            self.objects.upload(key, staged)
        try:
            with _db_errors(), self.db.transaction() as conn:
                current = self._check_preconditions(conn, path, if_match, if_none_match_any)
                if current is None:
                    self._check_new_name(conn, path)
                now = time.time_ns()
                node = ns.Node(
                    path=path,
                    parent=parent_of(path),
                    is_dir=False,
                    size=size,
                    mtime_ns=mtime_ns,
                    ctime_ns=now,
                    file_id=current.file_id if current is not None else ns.new_file_id(),
                    version=ns.new_version(),
                    md5=digests.md5,
                    sha1=digests.sha1,
                    sha256=digests.sha256,
                    object_key=key,
                )
                if current is None:
                    ns.insert(conn, node)
                    ns.add_size(conn, ns.ancestors(path), size)
                    self._changed(conn, path)
                else:
                    if not ns.replace_file(conn, current, node):
                        raise PreconditionFailedError(f"{path!r} changed during the commit")
                    ns.release(conn, [current.object_key], now)
                    ns.add_size(conn, ns.ancestors(path), size - current.size)
                    ns.bump(conn, ns.ancestors(path))
                return node.entry(), current is None
        except BaseException:
            self._discard_object(key)
            raise

    def _discard_object(self, key: str) -> None:
        """Delete an object no row got; the sweeper retries if the store is down."""
        if not key:
            return
        try:
            self.objects.delete([key])
        except ProviderError as exc:
            log.warning("could not delete unused object %s (the sweeper will): %s", key, exc)

    def mkdir(self, path: str) -> Entry:
        """Create collection ``path``. AlreadyExistsError, ConflictError, InvalidPathError."""
        p = normalize(path)
        with _db_errors(), self.db.transaction() as conn:
            if ns.get(conn, p) is not None:
                raise AlreadyExistsError(f"{p!r} exists")
            self._require_parent_dir(conn, p)
            self._check_new_name(conn, p)
            now = time.time_ns()
            node = ns.Node(p, parent_of(p), True, 0, now, now, ns.new_file_id(),
                           ns.new_version(), "", "", "", "")  # fmt: skip
            ns.insert(conn, node)
            self._changed(conn, p)
            return node.entry()

    def delete(self, path: str) -> None:
        """Remove a file or a tree. NotFoundError, ConflictError (the root)."""
        p = normalize(path)
        if p == "":
            raise ConflictError("the root cannot be deleted")
        with _db_errors(), self.db.transaction() as conn:
            self._require(conn, p)
            self._remove(conn, p)

    def set_mtime(self, path: str, mtime_ns: int) -> Entry:
        """Set the modification time. NotFoundError."""
        p = normalize(path)
        with _db_errors(), self.db.transaction() as conn:
            node = self._require(conn, p)
            ns.set_times(conn, p, mtime_ns, time.time_ns())
            ns.bump(conn, ([p] if node.is_dir else []) + ns.ancestors(p))
            return self._require(conn, p).entry()

    # ------------------------------------------------------------ move / copy

    def _check_pair(self, conn: Any, src: str, dst: str, overwrite: bool) -> ns.Node:
        if src == "" or dst == "":
            raise ConflictError("the root cannot be moved, copied or replaced")
        if is_within(dst, src) or is_within(src, dst):
            raise ConflictError(f"{dst!r} and {src!r} overlap")
        node = self._require(conn, src)
        self._require_parent_dir(conn, dst)
        existing = ns.get(conn, dst)
        if existing is not None and not overwrite:
            raise AlreadyExistsError(f"{dst!r} exists")
        if existing is None:
            self._check_new_name(conn, dst)
        else:
            self._remove(conn, dst)
        return node

    def move(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        """Rename a file or tree (rows only), keeping content, digests, mtimes and file ids.
        NotFoundError, AlreadyExistsError, ConflictError, InvalidPathError."""
        s, d = normalize(src), normalize(dst)
        with _db_errors(), self.db.transaction() as conn:
            node = self._check_pair(conn, s, d, overwrite)
            for below in ns.subtree(conn, s):
                ns.rename(conn, below, d + below.path[len(s) :])
            ns.rename(conn, node, d)
            ns.add_size(conn, ns.ancestors(s), -node.size)
            ns.add_size(conn, ns.ancestors(d), node.size)
            self._changed(conn, s)
            self._changed(conn, d, include_self=node.is_dir)
            return self._require(conn, d).entry()

    def copy(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        """Copy a file or tree (rows only: copies share the immutable objects, keep mtimes
        and digests and get new file ids). Errors as for ``move``."""
        s, d = normalize(src), normalize(dst)
        with _db_errors(), self.db.transaction() as conn:
            node = self._check_pair(conn, s, d, overwrite)
            now = time.time_ns()
            for old in [node, *ns.subtree(conn, s)]:
                new_path = d + old.path[len(s) :]
                fresh = ns.Node(new_path, parent_of(new_path), old.is_dir, old.size,
                                old.mtime_ns, now, ns.new_file_id(), ns.new_version(),
                                old.md5, old.sha1, old.sha256, old.object_key)  # fmt: skip
                ns.insert(conn, fresh)
            ns.add_size(conn, ns.ancestors(d), node.size)
            self._changed(conn, d)
            return self._require(conn, d).entry()

    # ----------------------------------------------------------------- sweeper

    def sweep(self, grace_s: float | None = None) -> SweepReport:
        """Delete released and orphaned objects older than ``grace_s`` (default: the
        provider's) and abort multipart uploads older than that. StorageUnavailableError."""
        return sweep(self.db, self.objects, self.grace_s if grace_s is None else grace_s)

    def start_sweeper(self, interval_s: float) -> None:
        """Run ``sweep`` every ``interval_s`` seconds in a daemon thread until ``close``."""
        if self._sweeper is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.sweep()
                except ProviderError as exc:
                    log.warning("object sweep failed (retried in %.0f s): %s", interval_s, exc)

        self._sweeper = threading.Thread(target=loop, name="s3-sweeper", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        """Stop the sweeper thread, close the object store's connections and this thread's
        database connection."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
            self._sweeper = None
        self.objects.close()
        self.db.close()


class S3WriteHandle:
    """A write staged in a local file, uploaded and committed by ``commit``."""

    def __init__(self, provider: S3Provider, path: str) -> None:
        self._provider = provider
        self._path = path
        self._hasher = MultiHasher()
        self._closed = False
        try:
            fd, name = tempfile.mkstemp(dir=provider.staging_dir, suffix=".part")
        except OSError as exc:
            raise map_os_error(exc, "staging") from exc
        self._staged = Path(name)
        self._fd: int | None = fd

    @property
    def bytes_written(self) -> int:
        """Bytes accepted so far."""
        return self._hasher.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` to the staging file. InsufficientStorageError / StorageIOError
        (the handle is then aborted); ProviderError if the handle is closed."""
        self._require_open()
        try:
            view = memoryview(data).cast("B")
            while view:
                assert self._fd is not None
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.abort()
            raise map_os_error(exc, "staging") from exc
        self._hasher.update(data)

    def commit(
        self,
        *,
        expected_size: int | None = None,
        expected_digests: Mapping[str, str] | None = None,
        mtime_ns: int | None = None,
        if_match: str | None = None,
        if_none_match_any: bool = False,
    ) -> CommitResult:
        """Upload and make the staged bytes current (see ``WriteHandle.commit``); on any
        error the handle is aborted and the previous version stays."""
        self._require_open()
        try:
            self._close_fd()
            digests = self._hasher.digests()
            size = self._hasher.size
            check_expectations(size, digests, expected_size, expected_digests)
            entry, created = self._provider._commit(
                self._path,
                self._staged,
                size,
                digests,
                mtime_ns=time.time_ns() if mtime_ns is None else mtime_ns,
                if_match=if_match,
                if_none_match_any=if_none_match_any,
            )
        except OSError as exc:
            self.abort()
            raise map_os_error(exc, "staging") from exc
        except BaseException:
            self.abort()
            raise
        self.abort()
        return CommitResult(entry=entry, digests=digests, created=created)

    def abort(self) -> None:
        """Discard the staged bytes. Idempotent; a no-op after commit."""
        self._closed = True
        self._close_fd()
        self._staged.unlink(missing_ok=True)

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.abort()

    def _require_open(self) -> None:
        if self._closed:
            raise ProviderError(f"the write handle for {self._path!r} is closed")
