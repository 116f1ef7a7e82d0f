"""The local provider's write handle: staging file + one-pass hashing."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

from providers.base import CommitResult, Entry
from providers.errors import ProviderError
from providers.hashing import Digests, MultiHasher
from providers.local.atomic import StagedFile
from providers.local.expectations import check_expectations
from providers.local.oserrors import translated
from providers.local.space import WriteBudget


class Installer(Protocol):
    """What the provider offers a handle: land a finished staging file on its path."""

    def __call__(
        self,
        path: str,
        staged: StagedFile,
        digests: Digests,
        *,
        mtime_ns: int,
        if_match: str | None,
        if_none_match_any: bool,
    ) -> tuple[Entry, bool]: ...


class LocalWriteHandle:
    """A staged write to one path (see ``providers.base.WriteHandle``)."""

    def __init__(
        self, path: str, staged: StagedFile, install: Installer, budget: WriteBudget
    ) -> None:
        self._path = path
        self._staged = staged
        self._install = install
        self._budget = budget
        self._hasher = MultiHasher(pipelined=True)
        self._closed = False

    @property
    def bytes_written(self) -> int:
        """Bytes accepted so far."""
        return self._hasher.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` and feed it to the digests.

        Raises InsufficientStorageError (disk full, quota, or the reserve reached) or
        StorageIOError, after which the handle is aborted; ProviderError if the handle was
        already committed or aborted.
        """
        self._require_open()
        self._hasher.update(data)  # large blocks: hashed while they are written
        try:
            with translated(f"writing {self._path}"):
                self._budget.charge(len(data))
                self._staged.write(data)
        except BaseException:
            self.abort()
            raise

    def commit(
        self,
        *,
        expected_size: int | None = None,
        expected_digests: Mapping[str, str] | None = None,
        mtime_ns: int | None = None,
        if_match: str | None = None,
        if_none_match_any: bool = False,
    ) -> CommitResult:
        """Make the staged bytes the current version (see ``WriteHandle.commit``).

        Raises SizeMismatchError, ChecksumMismatchError, PreconditionFailedError,
        ConflictError, InsufficientStorageError or StorageIOError (the handle is then
        aborted and the previous version untouched); ProviderError if already closed.
        """
        self._require_open()
        try:
            digests = self._hasher.digests()
            check_expectations(self._hasher.size, digests, expected_size, expected_digests)
            with translated(f"committing {self._path}"):
                entry, created = self._install(
                    self._path,
                    self._staged,
                    digests,
                    mtime_ns=time.time_ns() if mtime_ns is None else mtime_ns,
                    if_match=if_match,
                    if_none_match_any=if_none_match_any,
                )
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return CommitResult(entry=entry, digests=digests, created=created)

    def abort(self) -> None:
        """Remove the staging file. Idempotent; a no-op after commit."""
        if not self._closed:
            self._closed = True
            self._staged.discard()

    def _require_open(self) -> None:
        if self._closed:
            raise ProviderError(f"the write handle for {self._path!r} is closed")
