"""``RecordingProvider``: the one place that turns committed files into arrival events.

It wraps the server's storage provider. Every way a file becomes visible goes through the
provider: a write handle's ``commit`` (PUT, chunked assembly, tus' last part), ``move`` and
``copy`` (MOVE/COPY into place, trigger actions). After each one succeeds, the wrapper hands
the new file(s) to an ``ArrivalSink`` with the request's origin (``origin.current_origin``).
A commit that fails verification or a write abandoned midway is reported as a failed upload.
The sink must never raise: recording must not fail a write that already happened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from davserver.collection.origin import Origin, current_origin, protocol_of
from providers.base import CommitResult, Entry, Provider, WriteHandle, digests_many
from providers.errors import (
    ChecksumMismatchError,
    NotFoundError,
    ProviderError,
    SizeMismatchError,
)
from providers.hashing import Digests


class ArrivalSink(Protocol):
    """Receives what the wrapper observed (storage paths: ``<home>/rest``)."""

    def arrived(
        self,
        storage_path: str,
        size: int,
        digests: Digests,
        previous_sha256: str | None,
        protocol: str,
        origin: Origin | None,
    ) -> None:
        """A file was committed. Must not raise."""

    def upload_failed(
        self, storage_path: str, reason: str, *, refused: bool, origin: Origin | None
    ) -> None:
        """A write did not complete (``refused``: its declared size or digest was wrong)."""


class _RecordingHandle:
    """A write handle that reports its commit (or its failure) to the sink."""

    def __init__(self, owner: RecordingProvider, path: str, inner: WriteHandle) -> None:
        self._owner = owner
        self._path = path
        self._inner = inner
        self._done = False

    @property
    def bytes_written(self) -> int:
        return self._inner.bytes_written

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._inner.write(data)

    def commit(
        self,
        *,
        expected_size: int | None = None,
        expected_digests: Mapping[str, str] | None = None,
        mtime_ns: int | None = None,
        if_match: str | None = None,
        if_none_match_any: bool = False,
    ) -> CommitResult:
        origin = current_origin()
        previous = self._owner.previous_sha256(self._path)
        self._done = True
        try:
            result = self._inner.commit(
                expected_size=expected_size,
                expected_digests=expected_digests,
                mtime_ns=mtime_ns,
                if_match=if_match,
                if_none_match_any=if_none_match_any,
            )
        except (ChecksumMismatchError, SizeMismatchError) as exc:
            self._owner.sink.upload_failed(self._path, str(exc), refused=True, origin=origin)
            raise
        protocol = protocol_of("commit", origin)
        if protocol is not None:
            self._owner.sink.arrived(
                self._path, result.entry.size, result.digests, previous, protocol, origin
            )
        return result

    def abort(self) -> None:
        if not self._done and self._inner.bytes_written > 0:
            self._owner.sink.upload_failed(
                self._path, "upload not completed", refused=False, origin=current_origin()
            )
        self._done = True
        self._inner.abort()


class RecordingProvider:
    """A ``Provider`` that delegates to ``inner`` and reports arrivals (module docstring)."""

    def __init__(self, inner: Provider, sink: ArrivalSink) -> None:
        self.inner = inner
        self.sink = sink

    def __getattr__(self, name: str) -> Any:  # provider-specific extras (close, reconcile)
        return getattr(self.inner, name)

    def previous_sha256(self, path: str) -> str | None:
        """SHA-256 of the file at ``path`` now (None if there is none)."""
        try:
            return self.inner.digests(path).sha256
        except ProviderError:
            return None

    # --- reads, unchanged -------------------------------------------------------------------

    def stat(self, path: str) -> Entry:
        return self.inner.stat(path)

    def listdir(self, path: str) -> list[Entry]:
        return self.inner.listdir(path)

    def open_read(self, path: str) -> Any:
        return self.inner.open_read(path)

    def digests(self, path: str) -> Digests:
        return self.inner.digests(path)

    def digests_many(self, paths: Sequence[str]) -> dict[str, Digests]:
        return digests_many(self.inner, paths)

    def usage(self, path: str) -> Any:
        return self.inner.usage(path)

    def free_space(self) -> int | None:
        return self.inner.free_space()

    # --- writes -----------------------------------------------------------------------------

    def begin_write(self, path: str) -> WriteHandle:
        return _RecordingHandle(self, path, self.inner.begin_write(path))

    def mkdir(self, path: str) -> Entry:
        return self.inner.mkdir(path)

    def delete(self, path: str) -> None:
        self.inner.delete(path)

    def set_mtime(self, path: str, mtime_ns: int) -> Entry:
        return self.inner.set_mtime(path, mtime_ns)

    def move(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        previous = self._previous_for(dst)
        entry = self.inner.move(src, dst, overwrite=overwrite)
        self._report("move", entry, previous)
        return entry

    def copy(self, src: str, dst: str, *, overwrite: bool) -> Entry:
        previous = self._previous_for(dst)
        entry = self.inner.copy(src, dst, overwrite=overwrite)
        self._report("copy", entry, previous)
        return entry

    def _previous_for(self, dst: str) -> dict[str, str]:
        """SHA-256 of the files a move/copy onto ``dst`` may replace, by path."""
        try:
            entry = self.inner.stat(dst)
        except ProviderError:
            return {}
        out: dict[str, str] = {}
        for file_entry in self._files(entry):
            sha = self.previous_sha256(file_entry.path)
            if sha is not None:
                out[file_entry.path] = sha
        return out

    def _files(self, entry: Entry) -> Iterator[Entry]:
        """``entry`` if it is a file, else every file below it (depth first)."""
        if not entry.is_dir:
            yield entry
            return
        try:
            members = self.inner.listdir(entry.path)
        except NotFoundError:
            return
        for member in members:
            yield from self._files(member)

    def _report(self, operation: str, entry: Entry, previous: dict[str, str]) -> None:
        origin = current_origin()
        protocol = protocol_of(operation, origin)
        if protocol is None:
            return
        for file_entry in self._files(entry):
            try:
                digests = self.inner.digests(file_entry.path)
            except ProviderError:
                continue  # gone again already
            self.sink.arrived(
                file_entry.path,
                file_entry.size,
                digests,
                previous.get(file_entry.path),
                protocol,
                origin,
            )
