"""The files of recent folder listings, kept while nothing below the folder has changed.

A listing of a large folder reads every member's metadata row and builds its ``Entry``; most
of that work repeats unchanged when the same folder is listed again (sync clients and file
managers list the same folders over and over). A folder's recorded version
(``providers.local.tree``: ``local_folders.version``) moves with every change recorded below
the folder, by this process or any other sharing the metadata database. So a listing that
finds the folder at the version a kept listing was made under can reuse, for each file whose
``lstat`` is exactly the one its entry was made from, that entry, its metadata row and its
digests. Every member is still ``lstat``-ed by the listing, so a file changed behind the
server's back (new size, times or inode) is read afresh, exactly as without this cache.

Kept are files whose row matched their ``lstat`` and recorded digests (the row's inode,
size and times are the version its entry was made from); collections are
always read afresh (their size and ETag come from their own folder state). The cache is
bounded by the number of files kept over all folders; the least recently listed folders are
dropped first, and a folder with more files than the bound is not kept at all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from providers.base import Entry
from providers.local.metadata import Row

__all__ = ["DEFAULT_MAX_FILES", "KeptFile", "ListingCache"]

DEFAULT_MAX_FILES: Final = 25_000
"""Files kept over all folders: about 600 bytes each (row, digests, entry), ~15 MB in all."""

KeptFile = tuple[Row, Entry]
"""One file of a kept listing: its metadata row (with its digests; the row's inode, size and
times say which ``lstat`` version it describes) and its entry."""


@dataclass(frozen=True, slots=True)
class _Kept:
    version: int
    files: dict[str, KeptFile]


class ListingCache:
    """Kept listings by folder (storage path); safe to share between threads."""

    def __init__(self, max_files: int = DEFAULT_MAX_FILES) -> None:
        self.max_files = max_files
        self._lock = threading.Lock()
        self._folders: OrderedDict[str, _Kept] = OrderedDict()
        self._files = 0

    def get(self, folder: str, version: int) -> dict[str, KeptFile] | None:
        """The files kept for ``folder`` if kept at ``version`` (None otherwise). The caller
        must still compare each file's ``key`` with the ``lstat`` it sees now."""
        with self._lock:
            kept = self._folders.get(folder)
            if kept is None:
                return None
            if kept.version != version:
                self._drop(folder)
                return None
            self._folders.move_to_end(folder)
            return kept.files

    def put(self, folder: str, version: int, files: dict[str, KeptFile]) -> None:
        """Keep ``files`` as ``folder``'s at ``version`` (replacing what was kept before)."""
        with self._lock:
            self._drop(folder)
            if not files or len(files) > self.max_files:
                return
            while self._folders and self._files + len(files) > self.max_files:
                self._drop(next(iter(self._folders)))
            self._folders[folder] = _Kept(version, files)
            self._files += len(files)

    def _drop(self, folder: str) -> None:
        kept = self._folders.pop(folder, None)
        if kept is not None:
            self._files -= len(kept.files)
