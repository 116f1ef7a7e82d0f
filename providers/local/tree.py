"""Folder state for the local provider: a version and a recursive size per collection.

A collection's ETag is ``d-<inode>-<version>`` (hex). Every change below a collection bumps
the version of each ancestor up to the storage root, and adjusts their sizes, inside the
metadata transaction that records the change, so every process sees the new ETags together
with the change and no request ever walks the tree to compute them.

Changes made behind the server's back are picked up when they are *noticed*: each folder
remembers the directory mtime it last accounted for (``seen_mtime_ns``). A listing (or a
``stat``) that finds a folder whose directory mtime moved, a member file whose stat snapshot
no longer matches its metadata row, or a member folder without state recounts that folder
from its direct members (``FolderTree.recount``), then bumps it and its ancestors. Folders
never seen before (behind-the-back additions, databases from before this table) are measured
once by walking them (``materialize``).

Only called with the metadata transaction open (``MetadataStore.transaction``) for writes.
Raises sqlite3.Error and OSError; callers translate them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from stat import S_ISDIR

from providers.local.fsview import FsView, is_dir
from providers.local.metadata import MetadataStore, Row, db_int, db_ns
from providers.paths import parent_of

_COLUMNS = "path, inode, version, size, seen_mtime_ns"
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class FolderState:
    """What the metadata says about one collection."""

    path: str
    inode: int
    version: int
    size: int
    seen_mtime_ns: int

    def describes(self, st: os.stat_result) -> bool:
        """True if this state belongs to the directory ``st`` (same inode)."""
        return self.inode == db_int(st.st_ino)

    def in_sync(self, st: os.stat_result) -> bool:
        """True if the directory ``st`` has not changed membership since it was counted."""
        return self.describes(st) and self.seen_mtime_ns == db_ns(st.st_mtime_ns)

    @property
    def etag(self) -> str:
        """The collection's ETag (unquoted)."""
        return f"d-{self.inode & 0xFFFFFFFFFFFFFFFF:x}-{self.version:x}"


def ancestors(path: str) -> list[str]:
    """The collections above ``path``, nearest first, ending with the root ``""``."""
    out: list[str] = []
    while path != "":
        path = parent_of(path)
        out.append(path)
    return out


@dataclass
class Recount:
    """The direct members of a folder as just read from disk, with their metadata."""

    members: list[tuple[str, os.stat_result]]
    rows: dict[str, Row]
    folders: dict[str, FolderState]
    size: int
    noticed: bool


class FolderTree:
    """Folder states in the ``local_folders`` table of ``meta``'s database."""

    def __init__(self, meta: MetadataStore, view: FsView) -> None:
        self._meta = meta
        self._view = view

    # ------------------------------------------------------------------- reads

    def get(self, path: str) -> FolderState | None:
        """The state of ``path``, if recorded."""
        return self.get_many([path]).get(path)

    def get_many(self, paths: Sequence[str]) -> dict[str, FolderState]:
        """States of those ``paths`` that have one."""
        out: dict[str, FolderState] = {}
        conn = self._meta.connection()
        for start in range(0, len(paths), _IN_CHUNK):
            chunk = paths[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            cur = conn.execute(
                f"SELECT {_COLUMNS} FROM local_folders WHERE path IN ({marks})", tuple(chunk)
            )
            for values in cur:
                state = FolderState(*values)
                out[state.path] = state
        return out

    def listing_in_sync(
        self,
        path: str,
        st: os.stat_result,
        members: list[tuple[str, os.stat_result]],
        rows: dict[str, Row],
        folders: dict[str, FolderState],
    ) -> bool:
        """True if a listing of ``path`` (its ``members`` as just read, with their ``rows``
        and ``folders`` states) shows nothing the folder states do not know yet."""
        state = self.get(path)
        if state is None or not state.in_sync(st):
            return False
        size = 0
        for member, mst in members:
            if S_ISDIR(mst.st_mode):
                folder = folders.get(member)
                if folder is None or not folder.in_sync(mst):
                    return False
                size += folder.size
                continue
            row = rows.get(member)
            if row is not None and not row.is_dir and not row.matches(mst):
                return False
            size += mst.st_size
        return size == state.size

    # ------------------------------------------------------------------ writes

    def changed(self, path: str, size_delta: int, *, include_self: bool = False) -> None:
        """Record a change of ``path`` (file or collection) that altered the sizes below its
        ancestors by ``size_delta``: bump every ancestor's version and adjust its size.
        ``include_self``: also bump ``path`` itself (a collection whose own state changed)."""
        targets = ancestors(path)
        conn = self._meta.connection()
        now = time.time_ns()
        conn.executemany(
            "UPDATE local_folders SET version = max(version + 1, ?), size = size + ? "
            "WHERE path = ?",
            [(now, size_delta, p) for p in targets],
        )
        if include_self:
            conn.execute(
                "UPDATE local_folders SET version = max(version + 1, ?) WHERE path = ?",
                (now, path),
            )

    def record(self, path: str, st: os.stat_result, size: int) -> FolderState:
        """Store a fresh state for collection ``path`` (new version, counted now)."""
        old = self.get(path)
        version = time.time_ns()
        if old is not None:
            version = max(version, old.version + 1)
        state = FolderState(path, db_int(st.st_ino), version, size, db_ns(st.st_mtime_ns))
        self._meta.connection().execute(
            f"INSERT OR REPLACE INTO local_folders ({_COLUMNS}) VALUES (?,?,?,?,?)",
            (state.path, state.inode, state.version, state.size, state.seen_mtime_ns),
        )
        return state

    @contextmanager
    def watching(self, *folders: str) -> Iterator[None]:
        """Around a change the provider makes in ``folders``: afterwards, adopt their new
        directory mtimes as accounted for, but only for folders that were in sync before
        (a folder with an unnoticed outside change stays marked for a recount)."""
        before: dict[str, int] = {}
        for folder in dict.fromkeys(folders):
            mtime_ns = self._dir_mtime(folder)
            if mtime_ns is not None:
                before[folder] = mtime_ns
        yield
        conn = self._meta.connection()
        for folder, mtime_ns in before.items():
            now = self._dir_mtime(folder)
            if now is not None and now != mtime_ns:
                conn.execute(
                    "UPDATE local_folders SET seen_mtime_ns = ? "
                    "WHERE path = ? AND seen_mtime_ns = ?",
                    (now, folder, mtime_ns),
                )

    def _dir_mtime(self, folder: str) -> int | None:
        """The directory mtime of ``folder`` (one ``lstat``; the callers hold the folder's
        path and only compare the value; as recorded, see ``db_ns``), None if it is not a
        directory."""
        try:
            st = os.lstat(self._view.full(folder))
        except OSError:
            return None
        return db_ns(st.st_mtime_ns) if is_dir(st) else None

    def materialize(self, path: str, st: os.stat_result) -> FolderState:
        """Measure collection ``path`` and every collection below it by walking the tree,
        and store fresh states for all of them. Returns the state of ``path``."""
        return self.store(self.measure(path, st))

    def measure(self, path: str, st: os.stat_result) -> list[tuple[str, os.stat_result, int]]:
        """(path, lstat, recursive size) of collection ``path`` (first) and of every
        collection below it, from one walk; reads no metadata and writes nothing."""
        stats = {path: st}
        sizes: dict[str, int] = {}
        order: list[str] = []
        stack = [path]
        while stack:
            current = stack.pop()
            order.append(current)
            total = 0
            for child, cst in self._view.children(current):
                if is_dir(cst):
                    stats[child] = cst
                    stack.append(child)
                else:
                    total += cst.st_size
            sizes[current] = total
        for current in reversed(order):  # members come after their folder in ``order``
            if current != path:
                sizes[parent_of(current)] += sizes[current]
        return [(p, stats[p], sizes[p]) for p in order]

    def store(self, measured: list[tuple[str, os.stat_result, int]]) -> FolderState:
        """Store fresh states for what ``measure`` returned; returns the first one."""
        states = [self.record(p, st, size) for p, st, size in measured]
        return states[0]

    def recount(self, path: str, *, descend: bool) -> Recount:
        """Read the direct members of collection ``path`` from disk and bring their metadata
        in line: file rows whose snapshot no longer matches are refreshed (their digests are
        dropped, to be re-hashed on demand), member folders without state are materialized,
        and with ``descend`` member folders whose directory changed are recounted one level.
        ``noticed`` says whether anything had changed behind the provider's back."""
        members = list(self._view.children(path))
        rows = self._meta.get_many([m for m, _ in members])
        folders = self.get_many([m for m, st in members if is_dir(st)])
        noticed = False
        size = 0
        for member, st in members:
            if is_dir(st):
                state = folders.get(member)
                if state is None or not state.describes(st):
                    folders[member] = self.materialize(member, st)
                    noticed = True
                elif descend and not state.in_sync(st):
                    inner = self.recount(member, descend=False)
                    folders[member] = self.record(member, st, inner.size)
                    noticed = True
                size += folders[member].size
                continue
            row = rows.get(member)
            if row is not None and not row.is_dir and not row.matches(st):
                rows[member] = Row.from_stat(member, st, file_id=row.file_id)
                self._meta.put(rows[member])
                noticed = True
            size += st.st_size
        return Recount(members, rows, folders, size, noticed)

    def refresh(self, path: str, st: os.stat_result) -> Recount:
        """Recount collection ``path`` (see ``recount``) and, if anything changed since it
        was last counted, store its new state and bump its ancestors by the size change."""
        counted = self.recount(path, descend=True)
        old = self.get(path)
        if old is None or not old.describes(st):
            self.record(path, st, counted.size)
        elif counted.noticed or counted.size != old.size or not old.in_sync(st):
            self.record(path, st, counted.size)
            self.changed(path, counted.size - old.size)
            counted.noticed = True
        return counted

    def noticed_file(self, path: str, old: Row, st: os.stat_result) -> None:
        """A file changed behind the provider's back was just noticed (re-hashed)."""
        self.changed(path, st.st_size - old.size)
