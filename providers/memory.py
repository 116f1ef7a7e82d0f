"""``MemoryProvider``: the Provider protocol kept in a dict, for tests.

Semantics follow the local provider: writes are staged and become visible at ``commit``,
MD5/SHA-1/SHA-256 are computed while writing, file ETags are
``<first 24 hex of SHA-256>-<mtime_ns hex>`` and collection ETags ``d-<serial>-<version>``,
where the version changes whenever anything below the collection changes (every ancestor of a
changed path is bumped), a collection's size is the total size of the files below it,
file ids are 16 hex characters that survive overwrite and move (a copy gets a new one), and
adding or removing a member touches the parent's mtime. ``capacity`` (bytes) makes writes
beyond it fail with InsufficientStorageError, to exercise disk-full handling.
"""

from __future__ import annotations

import io
import itertools
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO

from providers.base import CommitResult, Entry, Usage
from providers.errors import (
    AlreadyExistsError,
    ConflictError,
    InsufficientStorageError,
    InvalidPathError,
    NotFoundError,
    PreconditionFailedError,
    ProviderError,
)
from providers.hashing import Digests, MultiHasher
from providers.local.expectations import check_expectations
from providers.paths import is_within, name_of, normalize, parent_of

_serials = itertools.count(1)


@dataclass(frozen=True, slots=True)
class _File:
    data: bytes
    digests: Digests
    mtime_ns: int
    ctime_ns: int
    file_id: str


@dataclass(frozen=True, slots=True)
class _Dir:
    mtime_ns: int
    ctime_ns: int
    file_id: str
    serial: int
    version: int


_Node = _File | _Dir


def _new_id() -> str:
    return secrets.token_hex(8)


def _new_dir() -> _Dir:
    now = time.time_ns()
    return _Dir(now, now, _new_id(), next(_serials), next(_serials))


def _entry(path: str, node: _Node, tree_size: int = 0) -> Entry:
    if isinstance(node, _Dir):
        etag = f"d-{node.serial:x}-{node.version:x}"
        return Entry(path, True, tree_size, node.mtime_ns, node.ctime_ns, etag, node.file_id)
    etag = f"{node.digests.sha256[:24]}-{node.mtime_ns:x}"
    return Entry(path, False, len(node.data), node.mtime_ns, node.ctime_ns, etag, node.file_id)


class MemoryProvider:
    """An in-memory Provider (thread-safe; one lock serialises every operation)."""

    def __init__(self, *, capacity: int | None = None) -> None:
        """``capacity``: total bytes that may be stored (None: unlimited)."""
        self.capacity = capacity
        self._nodes: dict[str, _Node] = {"": _new_dir()}
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- helpers

    def _get(self, path: str) -> _Node:
        node = self._nodes.get(path)
        if node is None:
            raise NotFoundError(f"{path!r} does not exist")
        return node

    def _require_parent_dir(self, path: str) -> None:
        if not isinstance(self._nodes.get(parent_of(path)), _Dir):
            raise ConflictError(f"the parent of {path!r} is not a collection")

    def _below(self, path: str) -> list[str]:
        return [p for p in self._nodes if p != path and is_within(p, path)]

    def _touch_parent(self, path: str) -> None:
        parent = parent_of(path)
        node = self._nodes.get(parent)
        if isinstance(node, _Dir) and path != "":
            now = time.time_ns()
            self._nodes[parent] = replace(node, mtime_ns=now, ctime_ns=now)
        self._bump(path)

    def _bump(self, path: str, *, include_self: bool = False) -> None:
        """Give every collection above ``path`` (and ``path`` itself) a new version."""
        targets = [path] if include_self else []
        current = path
        while current != "":
            current = parent_of(current)
            targets.append(current)
        for target in targets:
            node = self._nodes.get(target)
            if isinstance(node, _Dir):
                self._nodes[target] = replace(node, version=next(_serials))

    def _describe(self, path: str, node: _Node) -> Entry:
        return _entry(path, node, self._used(path) if isinstance(node, _Dir) else 0)

    def _used(self, path: str = "") -> int:
        return sum(
            len(n.data)
            for p, n in self._nodes.items()
            if isinstance(n, _File) and is_within(p, path)
        )

    def _remove(self, path: str) -> None:
        for p in [*self._below(path), path]:
            del self._nodes[p]
        self._touch_parent(path)

    # ------------------------------------------------------------------- reads

    def stat(self, path: str) -> Entry:
        """Describe ``path``. Raises NotFoundError, InvalidPathError."""
        p = normalize(path)
        with self._lock:
            return self._describe(p, self._get(p))

    def listdir(self, path: str) -> list[Entry]:
        """Members of collection ``path`` sorted by name.

        Raises NotFoundError, ConflictError (a file), InvalidPathError.
        """
        return [entry for entry, _ in self.listdir_with_digests(path)]

    def listdir_with_digests(self, path: str) -> list[tuple[Entry, Digests | None]]:
        """``listdir``, each file with its digests (all are known), None for collections."""
        p = normalize(path)
        with self._lock:
            if isinstance(self._get(p), _File):
                raise ConflictError(f"{p!r} is not a collection")
            members = [(c, n) for c, n in self._nodes.items() if c != "" and parent_of(c) == p]
            ordered = sorted(members, key=lambda item: name_of(item[0]))
            return [
                (self._describe(c, n), None if isinstance(n, _Dir) else n.digests)
                for c, n in ordered
            ]

    def open_read(self, path: str) -> BinaryIO:
        """A reader of the current content (a snapshot). Raises NotFoundError, ConflictError,
        InvalidPathError."""
        p = normalize(path)
        with self._lock:
            node = self._get(p)
        if isinstance(node, _Dir):
            raise ConflictError(f"{p!r} is a collection")
        return io.BytesIO(node.data)

    def digests(self, path: str) -> Digests:
        """Digests of the current content. Raises NotFoundError, ConflictError,
        InvalidPathError."""
        p = normalize(path)
        with self._lock:
            node = self._get(p)
        if isinstance(node, _Dir):
            raise ConflictError(f"{p!r} is a collection")
        return node.digests

    def digests_many(self, paths: Sequence[str]) -> dict[str, Digests]:
        """Digests of the files among ``paths`` (keyed as given); others are left out."""
        result: dict[str, Digests] = {}
        with self._lock:
            for path in paths:
                try:
                    node = self._get(normalize(path))
                except (NotFoundError, ConflictError, InvalidPathError):
                    continue
                if not isinstance(node, _Dir):
                    result[path] = node.digests
        return result

    def free_space(self) -> int | None:
        """``capacity`` minus everything stored (None without a capacity)."""
        with self._lock:
            return None if self.capacity is None else max(0, self.capacity - self._used())

    def usage(self, path: str) -> Usage:
        """Bytes stored below ``path``; available is ``capacity`` minus everything stored
        (None without a capacity). Raises NotFoundError, InvalidPathError."""
        p = normalize(path)
        with self._lock:
            self._get(p)
            used = self._used(p)
            free = None if self.capacity is None else max(0, self.capacity - self._used())
        return Usage(used=used, available=free)

    # ------------------------------------------------------------------ writes

    def begin_write(self, path: str) -> MemoryWriteHandle:
        """Start a staged write. Raises ConflictError (root, a collection, or parent not a
        collection), InvalidPathError."""
        p = normalize(path)
        if p == "":
            raise ConflictError("the root is a collection")
        with self._lock:
            self._require_parent_dir(p)
            if isinstance(self._nodes.get(p), _Dir):
                raise ConflictError(f"{p!r} is a collection")
        return MemoryWriteHandle(self, p)

    def _room_for(self, nbytes: int) -> bool:
        with self._lock:
            return self.capacity is None or self._used() + nbytes <= self.capacity

    def _install(
        self,
        path: str,
        data: bytes,
        digests: Digests,
        *,
        mtime_ns: int,
        if_match: str | None,
        if_none_match_any: bool,
    ) -> tuple[Entry, bool]:
        with self._lock:
            self._require_parent_dir(path)
            current = self._nodes.get(path)
            if isinstance(current, _Dir):
                raise ConflictError(f"{path!r} is a collection")
            if if_none_match_any and current is not None:
                raise PreconditionFailedError(f"{path!r} exists")
            if if_match is not None and (current is None or _entry(path, current).etag != if_match):
                raise PreconditionFailedError(f"{path!r} does not have ETag {if_match!r}")
            file_id = current.file_id if current is not None else _new_id()
            node = _File(data, digests, mtime_ns, time.time_ns(), file_id)
            self._nodes[path] = node
            self._touch_parent(path)
            return _entry(path, node), current is None

    def mkdir(self, path: str) -> Entry:
        """Create collection ``path``. Raises AlreadyExistsError, ConflictError (parent
        missing or a file), InvalidPathError."""
        p = normalize(path)
        with self._lock:
            if p in self._nodes:
                raise AlreadyExistsError(f"{p!r} exists")
            self._require_parent_dir(p)
            node = _new_dir()
            self._nodes[p] = node
            self._touch_parent(p)
            return self._describe(p, node)

    def delete(self, path: str) -> None:
        """Remove a file or a collection with everything below it.

        Raises NotFoundError, ConflictError (the root), InvalidPathError.
        """
        p = normalize(path)
        if p == "":
            raise ConflictError("the root cannot be deleted")
        with self._lock:
            self._get(p)
            self._remove(p)

    def set_mtime(self, path: str, mtime_ns: int) -> Entry:
        """Set the modification time. Raises NotFoundError, InvalidPathError."""
        p = normalize(path)
        with self._lock:
            node = replace(self._get(p), mtime_ns=mtime_ns, ctime_ns=time.time_ns())
            self._nodes[p] = node
            self._bump(p, include_self=isinstance(node, _Dir))
            return self._describe(p, self._nodes[p])

    # ------------------------------------------------------------ move / copy

    def _check_pair(self, src: str, dst: str, overwrite: bool) -> tuple[str, str, _Node]:
        """Validate a move/copy; call with the lock held."""
        s, d = normalize(src), normalize(dst)
        if s == "" or d == "":
            raise ConflictError("the root cannot be moved, copied or replaced")
        if is_within(d, s) or is_within(s, d):
            raise ConflictError(f"{d!r} and {s!r} overlap")
        node = self._get(s)
        self._require_parent_dir(d)
        if d in self._nodes and not overwrite:
            raise AlreadyExistsError(f"{d!r} exists")
        return s, d, node

    def move(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        """Rename a file or tree, keeping content, mtimes, digests and file ids.

        Raises NotFoundError, AlreadyExistsError, ConflictError, InvalidPathError.
        """
        with self._lock:
            s, d, node = self._check_pair(src, dst, overwrite)
            if d in self._nodes:
                self._remove(d)
            for p in [s, *self._below(s)]:
                self._nodes[d + p[len(s) :]] = self._nodes.pop(p)
            self._touch_parent(s)
            self._touch_parent(d)
            self._bump(d, include_self=isinstance(node, _Dir))
            return self._describe(d, self._nodes[d])

    def copy(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        """Copy a file or tree; copies keep mtime and digests and get new file ids.

        Raises NotFoundError, AlreadyExistsError, ConflictError, InvalidPathError,
        InsufficientStorageError (beyond ``capacity``).
        """
        with self._lock:
            s, d, _ = self._check_pair(src, dst, overwrite)
            if not self._room_for(self._used(s)):
                raise InsufficientStorageError("capacity exceeded")
            if d in self._nodes:
                self._remove(d)
            now = time.time_ns()
            for p in [s, *sorted(self._below(s))]:
                old = self._nodes[p]
                fresh: _Node
                if isinstance(old, _File):
                    fresh = replace(old, ctime_ns=now, file_id=_new_id())
                else:
                    fresh = replace(
                        old, ctime_ns=now, file_id=_new_id(), serial=next(_serials), version=0
                    )
                self._nodes[d + p[len(s) :]] = fresh
            self._touch_parent(d)
            return self._describe(d, self._nodes[d])


class MemoryWriteHandle:
    """A staged write held in memory until commit."""

    def __init__(self, provider: MemoryProvider, path: str) -> None:
        self._provider = provider
        self._path = path
        self._buffer = bytearray()
        self._hasher = MultiHasher()
        self._closed = False

    @property
    def bytes_written(self) -> int:
        """Bytes accepted so far."""
        return self._hasher.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``. Raises InsufficientStorageError beyond the provider's capacity
        (the handle is then aborted); ProviderError if the handle is closed."""
        self._require_open()
        if not self._provider._room_for(len(self._buffer) + len(data)):
            self.abort()
            raise InsufficientStorageError("capacity exceeded")
        self._buffer += data
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
        """Make the staged bytes current (see ``WriteHandle.commit``).

        Raises SizeMismatchError, ChecksumMismatchError, PreconditionFailedError,
        ConflictError (the handle is then aborted); ProviderError if already closed.
        """
        self._require_open()
        try:
            digests = self._hasher.digests()
            check_expectations(self._hasher.size, digests, expected_size, expected_digests)
            entry, created = self._provider._install(
                self._path,
                bytes(self._buffer),
                digests,
                mtime_ns=time.time_ns() if mtime_ns is None else mtime_ns,
                if_match=if_match,
                if_none_match_any=if_none_match_any,
            )
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._buffer = bytearray()
        return CommitResult(entry=entry, digests=digests, created=created)

    def abort(self) -> None:
        """Discard the staged bytes. Idempotent; a no-op after commit."""
        self._closed = True
        self._buffer = bytearray()

    def _require_open(self) -> None:
        if self._closed:
            raise ProviderError(f"the write handle for {self._path!r} is closed")
