"""The Provider protocol: the only way any part of davsync reaches stored files.

Paths are storage paths (see ``providers.paths``): relative, ``/``-separated, ``""`` is the
root. Callers normalise paths with ``providers.paths.normalize`` before calling; providers
re-validate and raise ``InvalidPathError`` for anything the policy forbids.

Contracts shared by every provider (the conformance suite in tests/conformance checks them):

- Writes go through ``begin_write`` -> ``WriteHandle.write``* -> ``commit`` (or ``abort``).
  Until ``commit`` returns, nothing is visible: a listing or ``stat`` shows the previous
  version (or nothing). ``commit`` is atomic: readers see the old or the new version, never a
  mix, even across processes. A handle that is dropped, aborted or whose process dies leaves the
  previous version untouched.
- Every commit stores MD5, SHA-1 and SHA-256 computed in the same pass as the write.
- ``Entry.etag`` is a strong, unquoted entity tag that changes whenever content or mtime
  changes and stays the same otherwise. A collection's ETag changes whenever anything below
  it changes (a write, delete, copy or move in or out, an mtime change, at any depth), up to
  the root, and stays the same otherwise; every process sees the same value. Providers keep
  it up to date on each change (no walk of the tree when it is read).
- ``Entry.size`` of a collection is the total size of the files below it, kept the same way.
- Errors are only those of ``providers.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable

from providers.errors import ConflictError, InvalidPathError, NotFoundError
from providers.hashing import Digests


@dataclass(frozen=True, slots=True)
class Entry:
    """What a listing or ``stat`` reports about one file or collection."""

    path: str
    is_dir: bool
    size: int
    mtime_ns: int
    ctime_ns: int
    etag: str
    file_id: str

    @property
    def name(self) -> str:
        """The last path segment (``""`` for the root)."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Usage:
    """Bytes used below a path and bytes still available to it (None: unknown)."""

    used: int
    available: int | None


@dataclass(frozen=True, slots=True)
class CommitResult:
    """The outcome of a successful commit."""

    entry: Entry
    digests: Digests
    created: bool


class WriteHandle(Protocol):
    """A staged write. Not thread-safe; one writer per handle."""

    @property
    def bytes_written(self) -> int:
        """Bytes accepted so far."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` to the staging area.

        Raises InsufficientStorageError (disk full) or StorageIOError; after either the handle
        is aborted and the previous version is untouched.
        """

    def commit(
        self,
        *,
        expected_size: int | None = None,
        expected_digests: Mapping[str, str] | None = None,
        mtime_ns: int | None = None,
        if_match: str | None = None,
        if_none_match_any: bool = False,
    ) -> CommitResult:
        """Make the staged bytes the current version of the path, atomically.

        ``expected_size``: SizeMismatchError if a different number of bytes was written.
        ``expected_digests``: algorithm name (md5/sha1/sha256, any spelling accepted by
        ``providers.hashing.normalize_algorithm``) -> hex; ChecksumMismatchError on the first
        mismatch. ``mtime_ns``: the modification time to store (default: now).
        ``if_match``: unquoted ETag the current version must have (PreconditionFailedError
        otherwise, also when the path does not exist); ``if_none_match_any``: the path must not
        exist. Preconditions are checked under a lock shared with every other committer of the
        same path, so two concurrent commits are serialised. ConflictError if the parent
        collection vanished or the path is a collection. On any error the handle is aborted.
        """

    def abort(self) -> None:
        """Discard the staged bytes. Idempotent; safe after commit (then a no-op)."""


@runtime_checkable
class Provider(Protocol):
    """Minimal storage interface. See the module docstring for shared contracts."""

    def stat(self, path: str) -> Entry:
        """Describe ``path``. NotFoundError if absent."""

    def listdir(self, path: str) -> list[Entry]:
        """Members of collection ``path``, sorted by name.

        NotFoundError; ConflictError if ``path`` is a file."""

    def open_read(self, path: str) -> BinaryIO:
        """A seekable binary reader of the current version. NotFoundError; ConflictError if a dir.

        The reader keeps showing the version that was current when it was opened.
        """

    def digests(self, path: str) -> Digests:
        """MD5/SHA-1/SHA-256 of the current content, re-hashing if the file changed behind the
        provider's back. NotFoundError; ConflictError for a collection."""

    def begin_write(self, path: str) -> WriteHandle:
        """Start a staged write to ``path``. ConflictError if the parent is not a collection or
        ``path`` is a collection. Nothing becomes visible before ``commit``."""

    def mkdir(self, path: str) -> Entry:
        """Create collection ``path``. AlreadyExistsError; ConflictError if parent missing."""

    def delete(self, path: str) -> None:
        """Remove a file, or a collection with everything below it. NotFoundError."""

    def move(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        """Rename ``src`` to ``dst`` (file or collection), keeping content, digests and file id.

        AlreadyExistsError if ``dst`` exists and not ``overwrite``; ConflictError if the parent
        of ``dst`` is missing or ``dst`` lies below ``src``. Replacing an existing file is atomic.
        """

    def copy(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        """Copy ``src`` (recursively for a collection) to ``dst``; errors as for ``move``.
        A copied file lands atomically and carries the source's digests and mtime."""

    def set_mtime(self, path: str, mtime_ns: int) -> Entry:
        """Set the modification time. NotFoundError."""

    def usage(self, path: str) -> Usage:
        """Bytes used below ``path`` (may walk the tree) and bytes available for new writes."""

    def free_space(self) -> int | None:
        """Bytes available for new writes (None: unknown). Cheap: never walks the tree."""


@runtime_checkable
class BatchDigests(Protocol):
    """A provider that can give the digests of many files at once (a folder listing)."""

    def digests_many(self, paths: Sequence[str]) -> dict[str, Digests]:
        """Digests of the files among ``paths``, keyed as given, each as ``digests`` would
        return it. Paths that are absent, invalid or collections are left out (``digests``
        raises their error). Raises StorageIOError."""


@runtime_checkable
class ListingDigests(Protocol):
    """A provider whose folder listing can hand out the digests it already knows."""

    def listdir_with_digests(self, path: str) -> list[tuple[Entry, Digests | None]]:
        """``listdir(path)``, each member paired with the digests ``digests`` would return
        for exactly the version listed, where they are known without reading content; None
        for collections and for files whose digests are not at hand (ask ``digests``).
        Errors as ``listdir``."""


def digests_many(provider: Provider, paths: Sequence[str]) -> dict[str, Digests]:
    """``provider.digests_many(paths)`` if it has that, else one ``digests`` call per path."""
    if isinstance(provider, BatchDigests):
        return provider.digests_many(paths)
    result: dict[str, Digests] = {}
    for path in paths:
        try:
            result[path] = provider.digests(path)
        except (NotFoundError, ConflictError, InvalidPathError):
            continue
    return result
