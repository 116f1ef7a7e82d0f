"""ETags and ``Entry`` values for the local provider.

ETag formats (strong, unquoted):

- a file version the provider wrote or copied itself: ``<first 24 hex of SHA-256>-<mtime_ns hex>``
  (changes with content or mtime, and only then);
- a file that changed behind the provider's back (its metadata row does not match the
  ``lstat`` snapshot): ``s-<inode>-<size>-<mtime_ns>-<ctime_ns>`` in hex, so ``stat`` and
  listings never have to read file content. Re-hashing such a file later (``digests``) keeps
  this form, so the ETag does not change until the file does;
- a collection: ``d-<inode>-<version>`` in hex, where the version changes whenever anything
  below the collection changes (``providers.local.tree``); ``d-<inode>-<mtime_ns>`` only for
  a collection without recorded state.
"""

from __future__ import annotations

import os
from stat import S_ISDIR

from providers.base import Entry
from providers.hashing import Digests
from providers.local.fsview import is_dir
from providers.local.metadata import Row
from providers.local.tree import FolderState


def stat_etag(st: os.stat_result) -> str:
    """The ETag of a file known only by its stat snapshot."""
    return f"s-{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ctime_ns:x}"


def content_etag(sha256: str, mtime_ns: int) -> str:
    """The ETag of a file version whose content hash is recorded."""
    return f"{sha256[:24]}-{mtime_ns:x}"


def dir_etag(st: os.stat_result) -> str:
    """The ETag of a collection."""
    return f"d-{st.st_ino:x}-{st.st_mtime_ns:x}"


def etag_of(st: os.stat_result, row: Row | None) -> str:
    """The ETag of the file or collection whose ``lstat`` is ``st`` and metadata is ``row``."""
    if is_dir(st):
        return dir_etag(st)
    if row is not None and row.hash_etag and row.digests is not None and row.matches(st):
        return content_etag(row.digests.sha256, st.st_mtime_ns)
    return stat_etag(st)


def make_entry(path: str, st: os.stat_result, row: Row, folder: FolderState | None = None) -> Entry:
    """The ``Entry`` for ``path``; ``row`` supplies the file id (and digests for the ETag),
    ``folder`` the ETag and recursive size of a collection."""
    return listed_entry(path, st, row, folder)[0]


def listed_entry(
    path: str, st: os.stat_result, row: Row, folder: FolderState | None = None
) -> tuple[Entry, Digests | None]:
    """``make_entry(path, st, row, folder)``, with the digests ``row`` records if it describes
    exactly the file version ``st`` (None for a collection or a file without them)."""
    if S_ISDIR(st.st_mode):
        size, etag = 0, dir_etag(st)
        if folder is not None and folder.describes(st):
            size, etag = folder.size, folder.etag
        return Entry(path, True, size, st.st_mtime_ns, st.st_ctime_ns, etag, row.file_id), None
    current = row.digests if row.digests is not None and row.matches(st) else None
    if current is not None and row.hash_etag:
        etag = content_etag(current.sha256, st.st_mtime_ns)
    else:
        etag = stat_etag(st)
    entry = Entry(path, False, st.st_size, st.st_mtime_ns, st.st_ctime_ns, etag, row.file_id)
    return entry, current
