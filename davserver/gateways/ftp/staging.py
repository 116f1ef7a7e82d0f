"""STOR, APPE and REST+STOR through a resumable upload session, committed atomically.

An upload never writes the target directly. Its bytes go into a Nextcloud chunking session
of the user (``/dav/uploads/<user>/ftp-<id>/``, one per target path), each STOR streaming
into one chunk (``1``, ``2``, …) by a chunked in-process PUT. Only when the data connection
ended cleanly is the session assembled into the target by ``MOVE .file``: the server then
streams the file once through the provider, computes MD5/SHA-1/SHA-256 and replaces the old
version atomically, exactly as for a WebDAV chunked upload.

When the transfer is cut (control connection lost, data connection reset, TLS data stream
ended without ``close_notify``, ABOR), the bytes that arrived are kept as a complete chunk
and nothing is committed: the old version stays, and ``REST <staged size>`` + ``STOR``
appends the rest. A crash of the server mid-chunk loses only that chunk (the server stores
chunks atomically), never the old version.
"""

from __future__ import annotations

import errno
import hashlib
import queue
import threading
import weakref
from typing import Final

from pyftpdlib.filesystems import FilesystemError

from davserver.gateways.ftp.dav import (
    ChunkStream,
    DavRefusedError,
    DavSession,
    Entry,
    body_chunks,
    refusal,
)
from davserver.gateways.inprocess import Response

_QUEUE_DEPTH: Final = 32  # pieces of up to 64 KiB buffered between the FTP loop and the PUT
_PUT_WAIT_S: Final = 1.0
_EOF: Final = b""

_ERRNO_BY_STATUS = {
    403: errno.EACCES,
    409: errno.ENOENT,
    413: errno.EFBIG,
    423: errno.EBUSY,
    507: errno.ENOSPC,
}


def session_path(dav: DavSession, target: str) -> str:
    """The upload-session folder that stages uploads of ``target``."""
    ident = hashlib.sha256(target.encode("utf-8")).hexdigest()[:24]
    return f"{dav.uploads}/ftp-{ident}"


_BUSY_WAIT_S: Final = 30.0
_busy_guard = threading.Lock()
_busy: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()
"""The upload lock of each target in use; a lock nobody holds or waits for is dropped (a
gateway receiving new names every hour would otherwise keep one per name forever)."""


def _target_lock(session: str) -> threading.RLock:
    with _busy_guard:
        lock = _busy.get(session)
        if lock is None:
            lock = _busy[session] = threading.RLock()
        return lock


def _settled(dav: DavSession, target: str) -> None:
    """Wait until no upload of ``target`` is still being stored by this gateway (a client
    resuming right after a cut must see everything the cut upload kept)."""
    lock = _target_lock(session_path(dav, target))
    if not lock.acquire(timeout=_BUSY_WAIT_S):
        raise DavRefusedError(423, "Another upload of this file is still in progress")
    lock.release()


def staged_chunks(dav: DavSession, target: str) -> list[Entry] | None:
    """The chunks staged for ``target`` (by number), or None when no session exists."""
    _settled(dav, target)
    return _staged_chunks(dav, target)


def _staged_chunks(dav: DavSession, target: str) -> list[Entry] | None:
    try:
        entries = dav.propfind(session_path(dav, target) + "/", 1)
    except DavRefusedError as exc:
        if exc.status == 404:
            return None
        raise
    chunks = [e for e in entries if not e.is_dir and e.name.isdigit()]
    return sorted(chunks, key=lambda e: int(e.name))


def staged_size(dav: DavSession, target: str) -> int | None:
    """Bytes kept from interrupted uploads of ``target``; None when nothing is staged."""
    chunks = staged_chunks(dav, target)
    if not chunks:
        return None
    return sum(c.size for c in chunks)


class _QueueReader:
    """A binary stream fed piece by piece from another thread; ``b""`` marks the end."""

    def __init__(self, pieces: queue.Queue[bytes]) -> None:
        self._pieces = pieces
        self._buffer = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            piece = self._pieces.get()
            if piece == _EOF:
                self._ended = True
            self._buffer += piece
            if size >= 0 and self._buffer:
                break
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


class _ChunkPut:
    """One chunk streamed into the session by an in-process PUT running in its own thread."""

    def __init__(self, dav: DavSession, url: str) -> None:
        self._pieces: queue.Queue[bytes] = queue.Queue(_QUEUE_DEPTH)
        self._answer: Response | None = None
        self._error: BaseException | None = None
        reader = _QueueReader(self._pieces)
        self._thread = threading.Thread(
            target=self._run, args=(dav, url, reader), name="ftp-stor", daemon=True
        )
        self._thread.start()

    def _run(self, dav: DavSession, url: str, reader: _QueueReader) -> None:
        try:
            self._answer = dav.request("PUT", url, body=reader)  # type: ignore[arg-type]
        except BaseException as exc:  # reported by write()/end(), never lost
            self._error = exc
        finally:
            # Unblock a writer waiting on a full queue after the PUT gave up early.
            while True:
                try:
                    self._pieces.get_nowait()
                except queue.Empty:
                    break

    def write(self, data: bytes) -> None:
        """Queue ``data``; raises OSError as soon as the server has refused the chunk."""
        while True:
            if not self._thread.is_alive():
                self._raise_refusal()
                raise OSError(errno.EIO, "the upload stopped early")
            try:
                self._pieces.put(data, timeout=_PUT_WAIT_S)
                return
            except queue.Full:
                continue

    def _raise_refusal(self) -> None:
        if self._error is not None:
            raise OSError(errno.EIO, f"internal error: {self._error}") from self._error
        if self._answer is not None and self._answer.status not in (201, 204):
            status = self._answer.status
            raise OSError(_ERRNO_BY_STATUS.get(status, errno.EIO), refusal(self._answer, "PUT"))

    def end(self) -> None:
        """Mark the end of the chunk and wait until the server has stored (or refused) it."""
        while self._thread.is_alive():
            try:
                self._pieces.put(_EOF, timeout=_PUT_WAIT_S)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._error is not None:
            raise DavRefusedError(500, f"Internal error while storing: {self._error}")
        assert self._answer is not None
        if self._answer.status not in (201, 204):
            raise refusal(self._answer, "PUT")


class StagedUpload:
    """The writable file pyftpdlib fills during STOR/APPE (see the module docstring).

    ``mode``: ``"w"`` (STOR: drop anything staged, start afresh), ``"a"`` (APPE: continue
    a staged part of a cut upload if there is one, else stage the current file first) or
    ``"r+"`` (REST+STOR: keep what is staged; ``seek`` must name its exact size).
    ``finish(complete)`` ends the upload; pyftpdlib's ``close`` without a ``finish`` counts
    as an interruption.
    """

    def __init__(self, dav: DavSession, target: str, mode: str) -> None:
        self.name = target
        self.closed = False
        self._dav = dav
        self._session = session_path(dav, target)
        self._chunk: _ChunkPut | None = None
        self._written = 0
        self._lock = _target_lock(self._session)
        if not self._lock.acquire(timeout=_BUSY_WAIT_S):
            raise DavRefusedError(423, "Another upload of this file is in progress")
        try:
            self._begin(mode)
        except BaseException:
            self.closed = True
            self._lock.release()
            raise

    def _begin(self, mode: str) -> None:
        chunks = _staged_chunks(self._dav, self.name) or [] if mode[0] in "ra" else []
        if mode.startswith("r") or chunks:
            # REST+STOR, or APPE after a cut upload (curl -C -): continue the staged part,
            # whose size is what SIZE reported.
            self._next = int(chunks[-1].name) + 1 if chunks else 1
            self.staged = sum(c.size for c in chunks)
            return
        self._restart_session()
        self._next = 1
        self.staged = 0
        if mode.startswith("a"):
            self._stage_current_version()

    def _restart_session(self) -> None:
        dav = self._dav
        if dav.request("MKCOL", self._session + "/").status == 201:
            return  # the usual case: nothing was staged for this file
        dav.expect(dav.request("DELETE", self._session + "/"), "DELETE", 204, 200, 404)
        dav.expect(dav.request("MKCOL", self._session + "/"), "MKCOL", 201)

    def _stage_current_version(self) -> None:
        """APPE: stage the stored file as the first chunks, each at most one PUT's worth
        (``max_put_bytes``, which bounds a transfer, not the file), then the new bytes follow.
        """
        current = self._dav.entry(self.name)
        if current is None or current.is_dir or current.size == 0:
            return
        step = self._dav.max_put_bytes or current.size
        number, offset = 1, 0
        while offset < current.size:
            length = min(step, current.size - offset)
            answer = self._dav.download(self.name, offset)
            try:
                stream = ChunkStream(body_chunks(answer))
                put = self._dav.request(
                    "PUT",
                    f"{self._session}/{number}",
                    body=stream,  # type: ignore[arg-type]  # read() is all the server uses
                    length=length,
                )
            finally:
                answer.close()
            self._dav.expect(put, "PUT", 201, 204)
            number, offset = number + 1, offset + length
        after = self._dav.entry(self.name)
        if after is None or after.etag != current.etag:
            raise DavRefusedError(409, "The file changed while it was being appended to")
        self._next, self.staged = number, current.size

    def seek(self, offset: int) -> None:
        """REST: only the exact size already staged can be resumed."""
        if offset != self.staged:
            raise FilesystemError(
                f"REST {offset} does not match the {self.staged} bytes kept of the "
                "interrupted upload (ask SIZE, or STOR from the start)",
            )

    def write(self, data: bytes) -> int:
        """Stream ``data`` into the current chunk."""
        if self._chunk is None:
            self._chunk = _ChunkPut(self._dav, f"{self._session}/{self._next}")
            self._next += 1
        self._chunk.write(bytes(data))
        self._written += len(data)
        return len(data)

    def finish(self, complete: bool) -> None:
        """End the transfer: store the chunk; when ``complete``, commit the file.

        Raises ``DavRefusedError`` when the server refused the chunk or the commit (the old
        version of the target is then unchanged).
        """
        if self.closed:
            return
        self.closed = True
        try:
            self._end(complete)
        finally:
            self._lock.release()

    def _end(self, complete: bool) -> None:
        if self._chunk is not None:
            self._chunk.end()
        if not complete:
            return
        if self._chunk is None and self.staged == 0:
            self._dav.expect(self._dav.request("PUT", self.name, body=b""), "PUT", 201, 204)
            self._dav.request("DELETE", self._session + "/")
            return
        answer = self._dav.request(
            "MOVE", f"{self._session}/.file", headers={"Destination": self._dav.url_of(self.name)}
        )
        self._dav.expect(answer, "store", 201, 204)

    def close(self) -> None:
        """Called by pyftpdlib; without ``finish`` first this is an interruption."""
        if not self.closed:
            self.finish(False)

    @property
    def total(self) -> int:
        """Bytes staged before this transfer plus those written in it."""
        return self.staged + self._written
