"""``LocalProvider``: stored files are plain files below a root directory.

Layout: ``root`` holds exactly the visible tree; ``state_dir`` holds ``metadata.sqlite``
(digests, stat snapshot and file id per path), ``locks/`` (per-path commit locks shared by
all processes) and, by default, ``staging/``. The staging directory must be on the root's
filesystem so that ``os.replace`` is atomic; otherwise ``root/.davsync-staging`` is used,
which is hidden from listings and refused as a path.

A version becomes visible only through ``os.replace`` of a complete, fsynced staging file,
done under the path's lock and inside the metadata transaction that records it; the parent
directory is fsynced afterwards, before the commit returns. Commits that arrive together are
landed as one batch (``providers.local.group_commit``): one transaction, one fsync per
directory, each commit with its own outcome. File ids live in the metadata: a commit onto an
existing file keeps its id, a move carries ids along, a copy (or a file first seen) gets a new
one.
See ``providers.local.entries`` for the ETag formats.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO

from providers.base import Entry, Usage
from providers.errors import (
    AlreadyExistsError,
    ConflictError,
    InsufficientStorageError,
    NotFoundError,
    PreconditionFailedError,
    ProviderError,
    StorageIOError,
)
from providers.hashing import Digests, hash_stream
from providers.local.atomic import StagedFile, current_umask, fsync_dir
from providers.local.copying import copy_content, copy_tree
from providers.local.entries import etag_of, listed_entry, make_entry
from providers.local.fsview import (
    STAGING_FALLBACK_NAME,
    FsView,
    is_dir,
    is_file,
    lstat_or_none,
)
from providers.local.group_commit import CommitQueue, Ticket
from providers.local.listing_cache import KeptFile, ListingCache
from providers.local.locks import PathLocks
from providers.local.metadata import MetadataStore, Row, new_file_id, same_version
from providers.local.oserrors import map_db_error, translate_errors
from providers.local.space import SpaceGuard, WriteBudget
from providers.local.staging import StagingArea, remove_tree_quietly, same_filesystem
from providers.local.tree import FolderState, FolderTree, Recount
from providers.local.writer import LocalWriteHandle
from providers.paths import PathPolicy, is_within, name_of, parent_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Landing:
    """A finished, fsynced staged write waiting to be landed on ``path``."""

    path: str
    staged: StagedFile
    digests: Digests
    if_match: str | None
    if_none_match_any: bool


_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_HASH_ATTEMPTS = 3
_LISTING_ROWS_KEPT = 20_000
"""A listing of at most this many members keeps its rows for ``digests_many`` (a few MB)."""


class LocalProvider:
    """Provider over a local directory tree (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        state_dir: Path,
        *,
        staging_dir: Path | None = None,
        reserve_bytes: int = 0,
        path_policy: PathPolicy | None = None,
    ) -> None:
        """Open (creating if needed) ``root`` and ``state_dir``; remove staging leftovers of
        dead processes.

        ``reserve_bytes`` is kept free: ``usage`` subtracts it and writes that would eat into
        it fail with InsufficientStorageError. ``path_policy`` decides which new names may be
        created (``providers.paths.PathPolicy``; default: any name ``normalize`` accepts).
        Raises StorageIOError if the directories or the database cannot be set up, ValueError
        if ``state_dir`` or ``staging_dir`` is ``root``.
        """
        try:
            root.mkdir(parents=True, exist_ok=True)
            state_dir.mkdir(parents=True, exist_ok=True)
            self.root = root.resolve(strict=True)
            self.state_dir = state_dir.resolve(strict=True)
            staging = self._choose_staging(staging_dir or self.state_dir / "staging")
            reserved = {STAGING_FALLBACK_NAME}
            for inner in (self.state_dir, staging):
                if inner.is_relative_to(self.root):
                    relative = inner.relative_to(self.root).as_posix()
                    if relative == ".":
                        raise ValueError("state and staging must not be the root itself")
                    reserved.add(relative)
            self._view = FsView(self.root, reserved)
            self._meta = MetadataStore(self.state_dir / "metadata.sqlite")
            self._locks = PathLocks(self.state_dir / "locks")
            self._staging = StagingArea(staging)
            self._tree = FolderTree(self._meta, self._view)
            self._measure_root()
        except OSError as exc:
            raise StorageIOError(f"cannot set up local storage: {exc}") from exc
        except sqlite3.Error as exc:
            raise map_db_error(exc) from exc
        self._space = SpaceGuard(self.root, reserve_bytes)
        self._commits: CommitQueue[_Landing, tuple[Entry, bool]] = CommitQueue(self._land_batch)
        self._file_mode = 0o666 & ~current_umask()
        self._policy = path_policy or PathPolicy()
        self._listings = ListingCache()
        self._last_listing: dict[str, Row] = {}
        """Metadata rows of the files of the most recent listing, for ``digests_many``."""

    def _measure_root(self) -> None:
        """Give the tree folder states if it has none (a new store, or one from before folder
        states existed): one walk, here at start-up rather than during a request, done
        before taking the metadata write lock so other processes are not held up by it."""
        st = os.lstat(self.root)
        state = self._tree.get("")
        if state is not None and state.describes(st):
            return
        measured = self._tree.measure("", st)  # outside the transaction: may take a while
        with self._meta.transaction():
            state = self._tree.get("")
            if state is None or not state.describes(st):
                self._tree.store(measured)

    @property
    def staging_dir(self) -> Path:
        """The directory staged files are written to."""
        return self._staging.directory

    def _choose_staging(self, wanted: Path) -> Path:
        wanted.mkdir(parents=True, exist_ok=True)
        wanted = wanted.resolve(strict=True)
        if same_filesystem(wanted, self.root):
            return wanted
        fallback = self.root / STAGING_FALLBACK_NAME
        log.warning(
            "staging directory %s is not on the filesystem of %s; using %s",
            wanted,
            self.root,
            fallback,
        )
        fallback.mkdir(exist_ok=True)
        return fallback

    def close(self) -> None:
        """Release this instance's staging ownership. Idempotent."""
        self._staging.close()

    # ----------------------------------------------------------------- lookups

    def _path(self, raw: str) -> str:
        return self._view.storage_path(raw)

    def _require(self, path: str) -> os.stat_result:
        st = self._view.lookup(path)
        if st is None:
            raise NotFoundError(f"{path!r} does not exist")
        return st

    def _row_for(self, path: str, st: os.stat_result) -> Row:
        """The metadata row of ``path``, giving it a file id if it has none yet."""
        row = self._meta.get(path)
        if row is None or row.is_dir != is_dir(st):
            row = self._ensure_rows([(path, st)])[path]
        return row

    def _ensure_rows(self, items: list[tuple[str, os.stat_result]]) -> dict[str, Row]:
        """Rows for paths seen without one, stored in one transaction. If the disk is too
        full for the metadata to grow they are returned unsaved (provisional file ids), so
        that reads and listings keep working. Raises sqlite3.Error for other failures."""
        try:
            with self._meta.transaction():
                return {path: self._meta.ensure(path, st) for path, st in items}
        except sqlite3.OperationalError as exc:
            if not isinstance(map_db_error(exc), InsufficientStorageError):
                raise
            log.warning("metadata database full; %d entries get provisional ids", len(items))
            return {path: Row.from_stat(path, st, file_id=new_file_id()) for path, st in items}

    def _current_in_dir(self, path: str) -> os.stat_result | None:
        """What is at non-root ``path`` now (``lookup``); ConflictError if its parent is not
        a collection. One walk for both."""
        parent, current = self._view.lookup_with_parent(path)
        if parent is None or not is_dir(parent):
            raise ConflictError(f"the parent of {path!r} is not a collection")
        return current

    def _require_parent_dir(self, path: str) -> None:
        parent = self._view.lookup(parent_of(path))
        if parent is None or not is_dir(parent):
            raise ConflictError(f"the parent of {path!r} is not a collection")

    def _check_new_name(self, path: str) -> None:
        """Apply the path policy to a path about to be created (InvalidPathError or
        ConflictError). Raises OSError if the parent cannot be listed."""
        if not self._policy.windows_compatible:
            return
        siblings = os.listdir(self._view.full(parent_of(path)))
        self._policy.check_new_name(name_of(path), siblings)

    # ------------------------------------------------------------------- reads

    @translate_errors
    def stat(self, path: str) -> Entry:
        """Describe ``path``. Raises NotFoundError, InvalidPathError, StorageIOError."""
        p = self._path(path)
        st = self._require(p)
        row = self._row_for(p, st)
        if is_dir(st):
            return make_entry(p, st, row, self._folder_state(p, st))
        if not row.matches(st) and self._resync(parent_of(p)) is not None:
            st = self._require(p)  # noticed a change behind our back: describe it afresh
            row = self._row_for(p, st)
        return make_entry(p, st, row)

    def _folder_state(self, path: str, st: os.stat_result) -> FolderState | None:
        """The state of collection ``path``, recounted first if its directory changed."""
        state = self._tree.get(path)
        if state is not None and state.in_sync(st):
            return state
        # A commit may sit between its rename and its metadata commit (a batch landing in this
        # folder): once the write lock is free the state usually describes the directory
        # again, and the recount (a scan of the whole folder) is not needed.
        with self._meta.transaction():
            now = self._view.lookup(path)
            state = self._tree.get(path)
        if now is not None and state is not None and state.in_sync(now):
            return state
        if self._resync(path) is not None:
            state = self._tree.get(path)
        return state

    def _resync(self, path: str) -> Recount | None:
        """Recount collection ``path`` and record what changed behind our back (see
        ``providers.local.tree``). None if the metadata is too full to record anything (the
        caller then describes what it saw), or if ``path`` is no longer a collection."""
        try:
            with self._meta.transaction():
                st = self._view.lookup(path)
                if st is None or not is_dir(st):
                    return None
                return self._tree.refresh(path, st)
        except sqlite3.OperationalError as exc:
            if not isinstance(map_db_error(exc), InsufficientStorageError):
                raise
            log.warning("metadata database full; changes in %r not recorded", path)
            return None

    @translate_errors
    def listdir(self, path: str) -> list[Entry]:
        """Visible members of collection ``path`` sorted by name.

        Raises NotFoundError, ConflictError (a file), InvalidPathError, StorageIOError.
        """
        listed, rows = self._listing(path)
        kept = rows.items() if len(rows) <= _LISTING_ROWS_KEPT else ()
        self._last_listing = {c: row for c, row in kept if row.digests is not None}
        return [entry for entry, _ in listed]

    @translate_errors
    def listdir_with_digests(self, path: str) -> list[tuple[Entry, Digests | None]]:
        """``listdir(path)``, each file with the digests its metadata row records if that row
        describes exactly the version listed (the same ``lstat`` the entry comes from), else
        None (``digests`` then re-hashes a file changed behind our back). Errors as
        ``listdir``."""
        return self._listing(path)[0]

    def _listing(self, path: str) -> tuple[list[tuple[Entry, Digests | None]], dict[str, Row]]:
        """The sorted members of collection ``path`` with their current digests, and the
        metadata rows read for them."""
        p = self._path(path)
        st = self._require(p)
        if not is_dir(st):
            raise ConflictError(f"{p!r} is not a collection")
        state = self._tree.get(p)  # read first: a version still current later covers all below
        children = list(self._view.children(p))
        kept = self._listings.get(p, state.version) if state is not None else None
        reused: dict[str, KeptFile] = {}
        if kept:
            for child, cst in children:
                hit = kept.get(child)
                if hit is not None and hit[0].matches(cst):
                    reused[child] = hit
        rows = {child: row for child, (row, _) in reused.items()}
        rows.update(self._meta.get_many([child for child, _ in children if child not in reused]))
        folders = self._tree.get_many([child for child, cst in children if is_dir(cst)])
        in_sync = self._tree.listing_in_sync(p, st, children, rows, folders)
        if not in_sync:
            reused = {}
            counted = self._resync(p)
            if counted is not None:
                children, rows, folders = counted.members, counted.rows, counted.folders
        children.sort(key=itemgetter(0))  # one parent: the order of the paths is that of the names
        missing = [(c, st) for c, st in children if c not in rows or rows[c].is_dir != is_dir(st)]
        if missing:
            rows.update(self._ensure_rows(missing))
        listed = [
            (hit[1], hit[0].digests)
            if (hit := reused.get(c)) is not None
            else listed_entry(c, cst, rows[c], folders.get(c))
            for c, cst in children
        ]
        unchanged = kept is not None and len(reused) == len(kept) == _with_digests(listed)
        if state is not None and in_sync and not missing and not unchanged:
            self._keep_listing(p, state.version, children, rows, listed)
        return listed, rows

    def _keep_listing(
        self,
        path: str,
        version: int,
        children: list[tuple[str, os.stat_result]],
        rows: dict[str, Row],
        listed: list[tuple[Entry, Digests | None]],
    ) -> None:
        """Keep the files of a listing made at ``version`` whose digests it knew."""
        files = {
            c: (rows[c], entry)
            for (c, _), (entry, digests) in zip(children, listed, strict=True)
            if digests is not None
        }
        self._listings.put(path, version, files)

    @translate_errors
    def open_read(self, path: str) -> BinaryIO:
        """A reader on the current inode (unaffected by later replacements).

        Raises NotFoundError, ConflictError (a collection), InvalidPathError, StorageIOError.
        """
        p = self._path(path)
        if is_dir(self._require(p)):
            raise ConflictError(f"{p!r} is a collection")
        fd = os.open(self._view.full(p), _READ_FLAGS)
        if not is_file(os.fstat(fd)):
            os.close(fd)
            raise NotFoundError(f"{p!r} is not a regular file")
        return open(fd, "rb")

    @translate_errors
    def digests(self, path: str) -> Digests:
        """Recorded digests, or fresh ones (recorded) if the file changed behind our back.

        Raises NotFoundError, ConflictError (a collection), InvalidPathError,
        StorageIOError (also if the file keeps changing while it is hashed).
        """
        p = self._path(path)
        st = self._require(p)
        if is_dir(st):
            raise ConflictError(f"{p!r} is a collection")
        row = self._meta.get(p)
        if row is not None and row.digests is not None and row.matches(st):
            return row.digests
        # A commit may sit between its os.replace and recording the new row: wait for its
        # lock, then look again before hashing (only on a mismatch, so rarely).
        with self._locks.hold(p, self._policy.lock_key(p)):
            st = self._require(p)
            row = self._meta.get(p)
        if row is not None and row.digests is not None and row.matches(st):
            return row.digests
        return self._rehash(p)

    @translate_errors
    def digests_many(self, paths: Sequence[str]) -> dict[str, Digests]:
        """Digests of the files among ``paths`` (keyed as given), as ``digests`` would return
        them, for a listing: each parent folder is looked up once, each file ``lstat``-ed once,
        and the recorded digests come from the rows the most recent ``listdir`` read (each
        handed out once, so they are not kept after the listing) or else from one metadata
        query per 500 paths. A row is used only if it describes the file as it is now.

        Paths that are invalid, absent or collections are left out (``digests`` raises their
        error); a file changed behind our back is re-hashed by ``digests``.
        Raises StorageIOError.
        """
        found: dict[str, tuple[str, os.stat_result]] = {}
        folders: dict[str, str | None] = {}
        for raw in paths:
            try:
                p = self._path(raw)
            except ProviderError:
                continue
            parent = parent_of(p)
            if parent not in folders:
                st = self._view.lookup(parent)
                folders[parent] = str(self._view.full(parent)) if st and is_dir(st) else None
            base = folders[parent]
            st = None if base is None else lstat_or_none(os.path.join(base, name_of(p)))
            if st is not None and is_file(st):
                found[raw] = (p, st)
        listed = self._last_listing  # rows a listing just read: usable if they still match
        rows = {p: row for p, _ in found.values() if (row := listed.pop(p, None)) is not None}
        rows.update(self._meta.get_many([p for p, _ in found.values() if p not in rows]))
        result: dict[str, Digests] = {}
        for raw, (p, st) in found.items():
            row = rows.get(p)
            if row is not None and row.digests is not None and row.matches(st):
                result[raw] = row.digests
                continue
            with contextlib.suppress(NotFoundError, ConflictError):
                result[raw] = self.digests(p)
        return result

    def _rehash(self, path: str) -> Digests:
        full = self._view.full(path)
        for _ in range(_HASH_ATTEMPTS):
            fd = os.open(full, _READ_FLAGS)
            try:
                before = os.fstat(fd)
                if not is_file(before):
                    raise NotFoundError(f"{path!r} is not a regular file")
                with open(fd, "rb", buffering=0, closefd=False) as reader:
                    digests = hash_stream(reader)
                after = os.fstat(fd)
            finally:
                os.close(fd)
            if same_version(before, after):
                self._record_hash(path, after, digests)
                return digests
        raise StorageIOError(f"{path!r} kept changing while it was hashed")

    def _record_hash(self, path: str, st: os.stat_result, digests: Digests) -> None:
        """Store re-computed digests unless the file changed again in the meantime."""
        with self._meta.transaction():
            current = self._view.lookup(path)
            if current is None or not same_version(current, st):
                return
            old = self._meta.get(path)
            file_id = old.file_id if old is not None and not old.is_dir else new_file_id()
            self._meta.put(Row.from_stat(path, st, file_id=file_id, digests=digests))
            if old is not None and not old.is_dir and not old.matches(st):
                self._tree.noticed_file(path, old, st)

    @translate_errors
    def free_space(self) -> int | None:
        """Free bytes above the reserve. Raises StorageIOError."""
        return self._space.available()

    @translate_errors
    def usage(self, path: str) -> Usage:
        """Sizes of the visible files below ``path`` (walked) and the free space left above
        the reserve. Raises NotFoundError, InvalidPathError, StorageIOError."""
        p = self._path(path)
        st = self._require(p)
        used = st.st_size if is_file(st) else self.stat(p).size
        return Usage(used=used, available=self._space.available())

    # ------------------------------------------------------------------ writes

    @translate_errors
    def begin_write(self, path: str) -> LocalWriteHandle:
        """Start a staged write to ``path`` (nothing visible before commit).

        Raises ConflictError (root, a collection, or parent not a collection),
        InvalidPathError, InsufficientStorageError, StorageIOError.
        """
        p = self._path(path)
        if p == "":
            raise ConflictError("the root is a collection")
        current = self._current_in_dir(p)
        if current is not None and is_dir(current):
            raise ConflictError(f"{p!r} is a collection")
        if current is None:
            self._check_new_name(p)
        return LocalWriteHandle(
            p, self._staging.new_file(), self._install, WriteBudget(self._space)
        )

    def _install(
        self,
        path: str,
        staged: StagedFile,
        digests: Digests,
        *,
        mtime_ns: int,
        if_match: str | None,
        if_none_match_any: bool,
    ) -> tuple[Entry, bool]:
        """Commit a staged write (called by the handle, which discards ``staged`` on error):
        fsync it here, then land it with whatever else is being committed right now
        (``providers.local.group_commit``); returns once it is durable.

        Raises PreconditionFailedError, ConflictError, OSError, sqlite3.Error.
        """
        staged.finish(mtime_ns, self._file_mode)
        return self._commits.submit(_Landing(path, staged, digests, if_match, if_none_match_any))

    def _land_batch(self, batch: Sequence[Ticket[_Landing, tuple[Entry, bool]]]) -> None:
        """Land a batch of staged writes: their path locks, one metadata transaction (each
        write in its own savepoint, so one failed precondition fails only its own write),
        then one fsync per touched directory; outcomes are handed out only after that."""
        keys = [k for t in batch for k in (t.job.path, self._policy.lock_key(t.job.path))]
        folders = [parent_of(t.job.path) for t in batch]
        landed: list[tuple[Ticket[_Landing, tuple[Entry, bool]], tuple[Entry, bool]]] = []
        with self._locks.hold(*keys):
            conn = self._meta.connection()
            with self._meta.transaction(), self._tree.watching(*folders):
                for ticket in batch:
                    conn.execute("SAVEPOINT landing")
                    try:
                        outcome = self._land_checked(ticket.job)
                    except (ProviderError, OSError) as exc:
                        conn.execute("ROLLBACK TO landing")
                        conn.execute("RELEASE landing")
                        ticket.fail(exc)
                        continue
                    conn.execute("RELEASE landing")
                    landed.append((ticket, outcome))
            for folder in dict.fromkeys(parent_of(t.job.path) for t, _ in landed):
                fsync_dir(self._view.full(folder))
        for ticket, outcome in landed:
            ticket.succeed(outcome)

    def _land_checked(self, job: _Landing) -> tuple[Entry, bool]:
        """Check one write's preconditions against what is there now and land it; caller
        holds its path lock and the metadata transaction."""
        path = job.path
        current = self._current_in_dir(path)
        if current is not None and is_dir(current):
            raise ConflictError(f"{path!r} is a collection")
        if current is None:
            self._check_new_name(path)
        if job.if_none_match_any and current is not None:
            raise PreconditionFailedError(f"{path!r} exists")
        if job.if_match is not None:
            if current is None:
                raise PreconditionFailedError(f"{path!r} does not exist")
            if etag_of(current, self._meta.get(path)) != job.if_match:
                raise PreconditionFailedError(f"{path!r} has a different ETag")
        entry = self._replace(
            path, job.staged, job.digests, keep_id=current is not None, before=current
        )
        return entry, current is None

    def _land(self, path: str, staged: StagedFile, digests: Digests, *, keep_id: bool) -> Entry:
        """Rename ``staged`` onto ``path``, record it and fsync the directory; caller holds
        the path's lock.

        ``keep_id``: reuse the id of the file being replaced. Raises ConflictError if the
        parent vanished, OSError, sqlite3.Error.
        """
        with self._meta.transaction(), self._tree.watching(parent_of(path)):
            before = self._view.lookup(path)
            entry = self._replace(path, staged, digests, keep_id=keep_id, before=before)
        fsync_dir(self._view.full(parent_of(path)))
        return entry

    def _replace(
        self,
        path: str,
        staged: StagedFile,
        digests: Digests,
        *,
        keep_id: bool,
        before: os.stat_result | None,
    ) -> Entry:
        """Rename ``staged`` onto ``path`` and record it, inside the caller's metadata
        transaction and path lock; the caller fsyncs the directory afterwards.

        ``before``: what is at ``path`` now, as the caller looked it up under the path lock
        (None: nothing). ``keep_id``: reuse the id of the file being replaced."""
        full = self._view.full(path)
        old = self._meta.get(path)
        if keep_id and old is not None and not old.is_dir:
            file_id = old.file_id
        else:
            file_id = new_file_id()
            self._meta.delete_tree(path)  # stale rows of something deleted behind our back
        try:
            os.replace(staged.path, full)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ConflictError(f"the parent of {path!r} vanished") from exc
        staged.landed()
        st = os.fstat(staged.fd)
        row = Row.from_stat(path, st, file_id=file_id, digests=digests, hash_etag=True)
        self._meta.put(row)
        self._tree.changed(path, st.st_size - (before.st_size if before is not None else 0))
        staged.close()
        return make_entry(path, st, row)

    @translate_errors
    def mkdir(self, path: str) -> Entry:
        """Create collection ``path``.

        Raises AlreadyExistsError, ConflictError (parent missing or a file),
        InvalidPathError, InsufficientStorageError, StorageIOError.
        """
        p = self._path(path)
        if p == "":
            raise AlreadyExistsError("the root exists")
        with self._locks.hold(p, self._policy.lock_key(p)):
            self._require_parent_dir(p)
            if self._view.lookup(p) is None:
                self._check_new_name(p)
            full = self._view.full(p)
            created = False
            try:
                with self._meta.transaction(), self._tree.watching(parent_of(p)):
                    try:
                        os.mkdir(full)
                    except FileExistsError as exc:
                        raise AlreadyExistsError(f"{p!r} exists") from exc
                    except (FileNotFoundError, NotADirectoryError) as exc:
                        raise ConflictError(f"the parent of {p!r} vanished") from exc
                    created = True
                    st = os.lstat(full)
                    row = Row.from_stat(p, st, file_id=new_file_id())
                    self._meta.delete_tree(p)
                    self._meta.put(row)
                    state = self._tree.record(p, st, 0)
                    self._tree.changed(p, 0)
            except BaseException:
                if created:  # the metadata could not record it (full disk): undo
                    with contextlib.suppress(OSError):
                        os.rmdir(full)
                raise
            fsync_dir(full.parent)
        return make_entry(p, st, row, state)

    @translate_errors
    def delete(self, path: str) -> None:
        """Remove a file or a whole collection (which vanishes at once).

        Raises NotFoundError, ConflictError (the root), InvalidPathError, StorageIOError.
        """
        p = self._path(path)
        if p == "":
            raise ConflictError("the root cannot be deleted")
        with self._locks.hold(p):
            self._remove(p, self._require(p))

    def _remove(self, path: str, st: os.stat_result) -> None:
        """Remove ``path`` (a file, or a tree moved to the staging area first) and its rows.

        Caller holds the path's lock. Raises OSError, sqlite3.Error.
        """
        full = self._view.full(path)
        trash = self._staging.new_name("trash") if is_dir(st) else None
        with self._meta.transaction(), self._tree.watching(parent_of(path)):
            removed = self._counted_size(path, st)
            if trash is None:
                os.unlink(full)
            else:
                os.rename(full, trash)
            self._meta.delete_tree(path)
            self._tree.changed(path, -removed)
        fsync_dir(full.parent)
        if trash is not None:
            remove_tree_quietly(trash)

    def _counted_size(self, path: str, st: os.stat_result) -> int:
        """The bytes ``path`` contributes to the sizes of its ancestors."""
        if not is_dir(st):
            return st.st_size
        state = self._tree.get(path)
        return state.size if state is not None and state.describes(st) else 0

    @translate_errors
    def set_mtime(self, path: str, mtime_ns: int) -> Entry:
        """Set the modification time of a file or collection.

        Raises NotFoundError, InvalidPathError, StorageIOError.
        """
        p = self._path(path)
        with self._locks.hold(p):
            st = self._require(p)
            full = self._view.full(p)
            row = self._row_for(p, st)
            directory = is_dir(st)
            with self._meta.transaction(), self._tree.watching(*([p] if directory else [])):
                os.utime(full, ns=(st.st_atime_ns, mtime_ns), follow_symlinks=False)
                new = os.lstat(full)
                if row.matches(st):
                    row = row.with_stat(new)
                    self._meta.put(row)
                self._tree.changed(p, 0, include_self=directory)
            state = self._tree.get(p) if directory else None
        return make_entry(p, new, row, state)

    # ------------------------------------------------------------ move / copy

    def _check_pair(self, src: str, dst: str) -> tuple[str, str]:
        s, d = self._path(src), self._path(dst)
        if s == "" or d == "":
            raise ConflictError("the root cannot be moved, copied or replaced")
        if is_within(d, s) or is_within(s, d):
            raise ConflictError(f"{d!r} and {s!r} overlap")
        return s, d

    def _clear_destination(self, dst: str, *, overwrite: bool, incoming_dir: bool) -> None:
        """Make room at ``dst`` for a file or collection; caller holds the lock of ``dst``.

        An existing file that a file will replace is left for the atomic rename. Raises
        AlreadyExistsError, ConflictError (parent not a collection), OSError, sqlite3.Error.
        """
        self._require_parent_dir(dst)
        existing = self._view.lookup(dst)
        if existing is None:
            self._check_new_name(dst)
            return
        if not overwrite:
            raise AlreadyExistsError(f"{dst!r} exists")
        if incoming_dir or is_dir(existing):
            self._remove(dst, existing)

    @translate_errors
    def move(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        """Rename a file or collection; content, mtime, digests and file ids travel along.

        A file replacing a file is one atomic rename; any other existing destination is
        removed first. Raises NotFoundError, AlreadyExistsError, ConflictError,
        InvalidPathError, StorageIOError.
        """
        s, d = self._check_pair(src, dst)
        with self._locks.hold(s, d, self._policy.lock_key(d)):
            src_st = self._require(s)
            row = self._row_for(s, src_st)
            self._clear_destination(d, overwrite=overwrite, incoming_dir=is_dir(src_st))
            full_s, full_d = self._view.full(s), self._view.full(d)
            directory = is_dir(src_st)
            with self._meta.transaction(), self._tree.watching(parent_of(s), parent_of(d)):
                moved = self._counted_size(s, src_st)
                replaced = self._view.lookup(d)  # a file (collections were removed above)
                self._meta.delete_tree(d)
                self._meta.move_tree(s, d)
                os.replace(full_s, full_d)
                st = os.lstat(full_d)
                if row.matches(src_st):  # rename may touch ctime: keep the row current
                    row = row.with_stat(st, d)
                    self._meta.put(row)
                self._tree.changed(s, -moved)
                gained = moved - (replaced.st_size if replaced is not None else 0)
                self._tree.changed(d, gained, include_self=directory)
                state = self._tree.get(d) if directory else None
            fsync_dir(full_d.parent)
            if full_s.parent != full_d.parent:
                fsync_dir(full_s.parent)
        return make_entry(d, st, row, state)

    @translate_errors
    def copy(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        """Copy a file or a tree; copies keep mtime and digests and get new file ids.

        The copy is built in the staging area and renamed into place, so it appears at once.
        Raises NotFoundError, AlreadyExistsError, ConflictError, InvalidPathError,
        InsufficientStorageError, StorageIOError.
        """
        s, d = self._check_pair(src, dst)
        src_st = self._require(s)
        self._require_parent_dir(d)
        if not overwrite and self._view.lookup(d) is not None:
            raise AlreadyExistsError(f"{d!r} exists")
        if is_dir(src_st):
            return self._copy_tree(s, d, overwrite)
        staged = self._staging.new_file()
        try:
            copied_st, digests = copy_content(self._view.full(s), self._meta.get(s), staged.fd)
            staged.finish(copied_st.st_mtime_ns, self._file_mode)
            with self._locks.hold(d, self._policy.lock_key(d)):
                self._clear_destination(d, overwrite=overwrite, incoming_dir=False)
                return self._land(d, staged, digests, keep_id=False)
        finally:
            staged.discard()

    def _copy_tree(self, src: str, dst: str, overwrite: bool) -> Entry:
        target = self._staging.new_name("tree")
        try:
            rows = {row.path: row for row in self._meta.tree(src)}
            items = copy_tree(self._view, src, target, rows, self._file_mode)
            full_d = self._view.full(dst)
            with self._locks.hold(dst, self._policy.lock_key(dst)):
                self._clear_destination(dst, overwrite=overwrite, incoming_dir=True)
                new_rows = [
                    Row.from_stat(
                        f"{dst}/{item.relative}" if item.relative else dst,
                        item.st,
                        file_id=new_file_id(),
                        digests=item.digests,
                        hash_etag=item.digests is not None,
                    )
                    for item in items
                ]
                with self._meta.transaction(), self._tree.watching(parent_of(dst)):
                    self._meta.delete_tree(dst)
                    os.rename(target, full_d)
                    self._meta.put_many(new_rows)
                    top_st = os.lstat(full_d)
                    state = self._tree.materialize(dst, top_st)
                    self._tree.changed(dst, state.size)
                fsync_dir(full_d.parent)
                top = next(r for r in new_rows if r.path == dst)
                return make_entry(dst, top_st, top, state)
        finally:
            if os.path.lexists(target):
                remove_tree_quietly(target)

    # ------------------------------------------------------------ maintenance

    @translate_errors
    def reconcile(self) -> int:
        """Drop metadata rows of paths that are gone (or changed kind); returns the count.

        Meant for start-up: a row dropped for a file another process is creating right now
        only costs that file its id. Raises StorageIOError.
        """
        gone: list[str] = []
        for path, directory in self._meta.all_kinds():
            try:
                p = self._path(path)
            except ProviderError:  # no longer acceptable under the path policy
                gone.append(path)
                continue
            st = self._view.lookup(p)
            if st is None or is_dir(st) != directory or p != path:
                gone.append(path)
        if not gone:
            return 0
        with self._meta.transaction():
            return self._meta.delete_paths(gone)


def _with_digests(listed: list[tuple[Entry, Digests | None]]) -> int:
    """How many members of ``listed`` come with digests."""
    return sum(1 for _, digests in listed if digests is not None)
