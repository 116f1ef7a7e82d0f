"""Resumable uploads: create a session, receive chunks, list them, assemble, abort, expire.

Two protocols share one model. A Nextcloud-style session collects named chunks and is
assembled on request (``MOVE .file``); a tus upload is a session whose chunks are the bodies
of successive ``PATCH`` requests, named by their byte range, and is assembled as soon as its
last byte arrives. Either way the final file is streamed chunk by chunk through the storage
provider's ``begin_write`` -> ``write`` -> ``commit``, so the digests are computed in the same
pass, declared digests and sizes are verified before anything becomes visible, and the
destination is replaced atomically (or left untouched on any failure).

The service reaches user files only through ``providers.base.Provider``; access control is
the caller's job (it is given storage paths the user may write). Errors are those of
``davserver.uploads.errors`` plus ``providers.errors`` raised by the provider.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from davserver.uploads import protocol
from davserver.uploads.errors import (
    ClientGoneError,
    InsufficientSpaceError,
    InvalidChunkError,
    OffsetMismatchError,
    ProtocolError,
    SessionBusyError,
    SessionCommittedError,
    SessionNotFoundError,
    UploadChecksumError,
    UploadError,
    UploadTooLargeError,
)
from davserver.uploads.store import (
    KIND_TUS,
    KIND_V1,
    KIND_V2,
    Chunk,
    Clock,
    Session,
    SessionStore,
    StagedChunk,
    os_error,
)
from providers import paths
from providers.base import Entry, Provider, WriteHandle
from providers.errors import ConflictError, InvalidPathError, NotFoundError
from providers.hashing import Digests, MultiHasher

log = logging.getLogger(__name__)

BLOCK_SIZE = 1024 * 1024
TUS_CHECKPOINT_BYTES = 8 * 1024 * 1024
"""A tus PATCH body is made durable in pieces of this size (what a server crash can lose)."""
LEASE_S = 15.0
COMMITTED_RETENTION_S = 24 * 3600.0

BodyReader = Callable[[int], bytes]
"""Reads up to n bytes of a request body; ``b""`` at its end (or when the client left)."""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Limits the service enforces (sizes in bytes, times in seconds)."""

    session_ttl_s: float = 7 * 24 * 3600.0
    max_sessions_per_user: int = 100
    max_upload_bytes: int | None = None
    max_chunk_bytes: int | None = None
    reserve_bytes: int = 0
    committed_retention_s: float = COMMITTED_RETENTION_S
    lease_s: float = LEASE_S


@dataclass(frozen=True, slots=True)
class AssemblyResult:
    """A committed upload. ``repeated``: a retry of an upload committed earlier (then
    ``digests`` is None and ``entry`` is the destination as it is now, if it still exists)."""

    destination: str
    entry: Entry | None
    digests: Digests | None
    created: bool
    repeated: bool = False


@dataclass(frozen=True, slots=True)
class TusState:
    """What a tus client can learn about an upload (HEAD, and after each PATCH)."""

    name: str
    offset: int
    length: int
    expires_at: float | None
    upload_metadata: str | None
    result: AssemblyResult | None = None

    @property
    def complete(self) -> bool:
        """True once every byte arrived and the file was committed."""
        return self.expires_at is None


class ChunkUpload:
    """One chunk body being received (``write``* then ``commit`` or ``abort``)."""

    def __init__(
        self,
        service: UploadService,
        session: Session,
        chunk: protocol.ChunkName,
        staged: StagedChunk,
        expected: int | None,
    ) -> None:
        self._service = service
        self._session = session
        self._chunk = chunk
        self._staged = staged
        self._expected = expected

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``. InsufficientSpaceError or UploadStoreError (then aborted)."""
        try:
            self._staged.write(data)
        except OSError as exc:
            self.abort()
            raise os_error(exc, "writing a chunk") from exc

    def commit(self) -> Chunk:
        """Record the chunk if its body was complete; otherwise discard it.

        Raises InvalidChunkError (the body does not match the chunk's range or the announced
        Content-Length), ChunkOverlapError, SessionBusyError, SessionCommittedError,
        SessionNotFoundError or an I/O UploadError. On any error nothing is recorded.
        """
        received = self._staged.size
        if self._expected is not None and received != self._expected:
            self.abort()
            raise InvalidChunkError(
                f"chunk {self._chunk.text!r}: received {received} of {self._expected} bytes; "
                "the chunk was not stored"
            )
        chunk = self._chunk

        def check(current: Session, chunks: list[Chunk]) -> None:
            protocol.check_new_chunk(chunk, chunks, current.total_length)

        return self._service._store.add_chunk(
            self._session, chunk.text, self._staged, start=chunk.start, end=chunk.end, check=check
        )

    def abort(self) -> None:
        """Discard the staged body. Idempotent."""
        self._staged.discard()


class UploadService:
    """See the module docstring."""

    def __init__(
        self,
        store: SessionStore,
        storage: Provider,
        limits: UploadLimits,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self.storage = storage
        self.limits = limits
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ sessions

    def session(self, user: str, name: str) -> Session:
        """The session ``name`` of ``user`` in any state. SessionNotFoundError."""
        session = self._store.get(user, name)
        if session is None:
            raise SessionNotFoundError(f"no upload session {name!r}")
        return session

    def find_session(self, user: str, name: str) -> Session | None:
        """The session ``name`` of ``user`` in any state, or None if there is none."""
        return self._store.get(user, name)

    def find_chunk(self, session: Session, name: str) -> Chunk | None:
        """The chunk ``name`` received in ``session``, or None."""
        return next(
            (c for c in self._store.chunks(session.owner, session.name) if c.name == name), None
        )

    def active_sessions(self, user: str) -> list[Session]:
        """``user``'s sessions that are not committed yet."""
        return self._store.list_active(user)

    def open_session_counts(self) -> dict[str, int]:
        """Sessions not committed yet, per user (users without any are absent)."""
        return self._store.count_active()

    def chunks(self, session: Session) -> list[Chunk]:
        """The chunks received so far, in assembly (natural) order."""
        chunks = self._store.chunks(session.owner, session.name)
        return sorted(chunks, key=lambda c: protocol.natural_key(c.name))

    def open_chunk(self, session: Session, chunk: Chunk) -> BinaryIO:
        """A reader of a chunk's bytes. UploadStoreError if the file is gone."""
        try:
            return open(self._store.chunk_path(session, chunk), "rb")
        except OSError as exc:
            raise os_error(exc, f"reading chunk {chunk.name!r}") from exc

    def expires_at(self, session: Session) -> float:
        """When the session expires if nothing else happens to it."""
        return session.updated_at + self.limits.session_ttl_s

    def create_chunked(
        self, user: str, name: str, *, destination: str | None, total: int | None
    ) -> Session:
        """Open a Nextcloud-style session (version 2 if ``destination`` is given).

        Raises SessionExistsError, TooManySessionsError, UploadTooLargeError,
        InsufficientSpaceError (checked against ``total`` when it is announced).
        """
        if total is not None:
            self._check_announced(total, received=0)
        return self._store.create(
            user,
            name,
            KIND_V2 if destination is not None else KIND_V1,
            max_active=self.limits.max_sessions_per_user,
            destination=destination,
            total_length=total,
        )

    def abort(self, user: str, name: str) -> None:
        """Remove a session and its chunks. SessionNotFoundError; SessionBusyError while it
        is being assembled."""
        session = self.session(user, name)
        if session.committed:
            raise SessionNotFoundError(f"no upload session {name!r}")
        self._store.delete(user, name, unless_busy=True)

    def delete_chunk(self, user: str, name: str, chunk_name: str) -> None:
        """Remove one chunk of an open session (so a bad chunk can be sent again)."""
        self._store.delete_chunk(user, name, chunk_name)

    # ------------------------------------------------------------------ chunks

    def begin_chunk(
        self,
        user: str,
        name: str,
        chunk_name: str,
        *,
        length: int | None,
        total: int | None = None,
        destination: str | None = None,
    ) -> ChunkUpload:
        """Check a chunk PUT before its body is read, then stage it.

        ``length``: the Content-Length (None if unknown); ``total``: OC-Total-Length;
        ``destination``: the storage path of a version-2 request's Destination. Raises
        SessionNotFoundError, SessionCommittedError, SessionBusyError, InvalidChunkError,
        ProtocolError, ChunkOverlapError, UploadTooLargeError, InsufficientSpaceError.
        """
        session = self._open_session(user, name)
        if session.kind == KIND_TUS:
            raise InvalidChunkError(f"{name!r} is a tus upload: send its bytes with PATCH")
        chunk = protocol.parse_chunk_name(chunk_name, numbered=session.kind == KIND_V2)
        if destination is not None and session.destination not in (None, destination):
            raise ProtocolError("Destination differs from the one the session was created with")
        total = self._merge_total(session, total)
        limit = self.limits.max_chunk_bytes
        if length is not None and limit is not None and length > limit:
            raise UploadTooLargeError(f"a chunk may hold at most {limit} bytes")
        protocol.check_body_length(chunk, length)
        existing = self._store.chunks(user, name)
        protocol.check_new_chunk(chunk, existing, total)
        received = sum(c.size for c in existing if c.name != chunk.text)
        incoming = length if length is not None else (chunk.size or 0)
        if total is not None:
            self._check_announced(total, received=received)
        else:
            self._check_space(incoming)
            self._check_max(received + incoming)
        staged = self._store.stage(session)
        expected = chunk.size if chunk.size is not None else length
        return ChunkUpload(self, session, chunk, staged, expected)

    def _open_session(self, user: str, name: str) -> Session:
        session = self.session(user, name)
        if session.committed:
            raise SessionCommittedError(
                f"upload session {name!r} was already committed; start a new session"
            )
        if session.busy(self._clock()):
            raise SessionBusyError(f"upload session {name!r} is being assembled")
        return session

    def _merge_total(self, session: Session, total: int | None) -> int | None:
        if total is None:
            return session.total_length
        if session.total_length is None:
            self._store.set_total(session.owner, session.name, total)
            return total
        if session.total_length != total:
            raise ProtocolError(
                f"OC-Total-Length {total} differs from the {session.total_length} announced before"
            )
        return total

    def _check_max(self, size: int) -> None:
        limit = self.limits.max_upload_bytes
        if limit is not None and size > limit:
            raise UploadTooLargeError(f"an upload may hold at most {limit} bytes")

    def _check_space(self, needed: int) -> None:
        available = self._store.disk_available(self.limits.reserve_bytes)
        if needed > available:
            raise InsufficientSpaceError(f"not enough free space for {needed} bytes")

    def _check_announced(self, total: int, *, received: int) -> None:
        """Room for the chunks still to come plus the assembled copy of ``total`` bytes."""
        self._check_max(total)
        self._check_space(max(0, total - received) + total)

    # ------------------------------------------------------------------ assembly

    def assemble(
        self,
        user: str,
        name: str,
        destination: str,
        *,
        expected_digests: Mapping[str, str] | None = None,
        total: int | None = None,
        mtime_ns: int | None = None,
    ) -> AssemblyResult:
        """Assemble a Nextcloud-style session into ``destination`` and remove it.

        A repeated request for a session already committed to the same destination
        succeeds again (``repeated``). Raises SessionNotFoundError, SessionBusyError (another
        request is assembling it), SessionCommittedError (committed to another destination),
        ProtocolError, AssemblyError (gap, overlap, ``total`` mismatch), UploadTooLargeError,
        InsufficientSpaceError, and the provider's errors (ChecksumMismatchError for a wrong
        ``expected_digests``, ConflictError, ...). On any error nothing is committed and the
        session keeps its chunks.
        """
        session = self.session(user, name)
        if session.committed:
            return self._repeated(session, destination)
        if session.kind == KIND_TUS:
            raise ProtocolError(f"{name!r} is a tus upload; it is assembled by its last PATCH")
        if session.kind == KIND_V2 and session.destination not in (None, destination):
            raise ProtocolError("Destination differs from the one the session was created with")
        if total is None:
            total = session.total_length
        size = sum(c.size for c in protocol.plan_assembly(self.chunks(session), total))
        self._check_max(size)
        self._check_destination_space(destination, size)
        try:
            return self._assemble(session, destination, expected_digests, total, mtime_ns)
        except SessionCommittedError:
            return self._repeated(self.session(user, name), destination)

    def _repeated(self, session: Session, destination: str) -> AssemblyResult:
        if session.destination != destination:
            raise SessionCommittedError(
                f"upload session {session.name!r} was already committed to another destination"
            )
        try:
            entry: Entry | None = self.storage.stat(destination)
        except NotFoundError:
            entry = None
        return AssemblyResult(destination, entry, None, created=False, repeated=True)

    def _check_destination_space(self, destination: str, size: int) -> None:
        probe = destination
        try:
            if self.storage.stat(destination).is_dir:
                raise ConflictError(f"{destination!r} is a collection")
        except NotFoundError:
            probe = paths.parent_of(destination)
        try:
            self.storage.stat(probe)
            available = self.storage.free_space()
        except NotFoundError:
            return  # the provider reports the missing parent at begin_write
        if available is not None and size > available:
            raise InsufficientSpaceError(f"not enough free space to assemble {size} bytes")

    def _assemble(
        self,
        session: Session,
        destination: str,
        expected_digests: Mapping[str, str] | None,
        total: int | None,
        mtime_ns: int | None,
    ) -> AssemblyResult:
        token = secrets.token_hex(8)
        lease = self.limits.lease_s
        self._store.acquire(session.owner, session.name, token, lease)
        try:
            ordered = protocol.plan_assembly(self.chunks(session), total)
            size = sum(c.size for c in ordered)
            handle = self.storage.begin_write(destination)
            try:
                self._copy_chunks(session, ordered, handle, token)
                result = handle.commit(
                    expected_size=size, expected_digests=expected_digests, mtime_ns=mtime_ns
                )
            except BaseException:
                handle.abort()
                raise
        except BaseException:
            self._store.release(session.owner, session.name, token)
            raise
        self._store.mark_committed(
            session,
            token,
            destination=destination,
            etag=result.entry.etag,
            file_id=result.entry.file_id,
        )
        log.info("upload %s/%s committed to %s", session.owner, session.name, destination)
        return AssemblyResult(destination, result.entry, result.digests, result.created)

    def _copy_chunks(
        self, session: Session, ordered: list[Chunk], handle: WriteHandle, token: str
    ) -> None:
        """Stream every chunk into ``handle`` in constant memory, renewing the lease."""
        buffer = bytearray(BLOCK_SIZE)
        view = memoryview(buffer)
        renew_every = self.limits.lease_s / 4
        renewed = time.monotonic()
        for chunk in ordered:
            with self.open_chunk(session, chunk) as reader:
                copied = 0
                while True:
                    n = reader.readinto(view)  # type: ignore[attr-defined]
                    if not n:
                        break
                    handle.write(view[:n])
                    copied += n
                    if time.monotonic() - renewed > renew_every:
                        self._store.renew(session.owner, session.name, token, self.limits.lease_s)
                        renewed = time.monotonic()
            if copied != chunk.size:
                raise InvalidChunkError(f"chunk {chunk.name!r} changed size on disk")

    # ------------------------------------------------------------------ tus

    def create_tus(
        self,
        user: str,
        collection: str,
        filename: str,
        length: int,
        *,
        upload_metadata: str | None = None,
        mtime_ns: int | None = None,
    ) -> TusState:
        """Open a tus upload of ``length`` bytes that lands at ``collection/filename``.

        A zero-length upload is committed at once. Raises ProtocolError (bad filename),
        NotFoundError / ConflictError (``collection`` missing or not a collection),
        UploadTooLargeError, InsufficientSpaceError, TooManySessionsError.
        """
        if "/" in filename:
            raise ProtocolError(f"Upload-Metadata filename {filename!r} must not contain '/'")
        try:
            destination = paths.join(collection, filename)
        except InvalidPathError as exc:
            raise ProtocolError(f"Upload-Metadata filename: {exc}") from exc
        if not self.storage.stat(collection).is_dir:
            raise ConflictError(f"{collection!r} is not a collection")
        self._check_announced(length, received=0)
        name = "tus-" + secrets.token_hex(16)
        session = self._store.create(
            user,
            name,
            KIND_TUS,
            max_active=self.limits.max_sessions_per_user,
            destination=destination,
            total_length=length,
            mtime_ns=mtime_ns,
            upload_metadata=upload_metadata,
        )
        if length == 0:
            try:
                result = self._assemble(session, destination, None, 0, mtime_ns)
            except BaseException:
                self._store.delete(user, name)
                raise
            return self._tus_state(self.session(user, name), result)
        return self._tus_state(session)

    def tus_state(self, user: str, name: str) -> TusState:
        """The current state of tus upload ``name``. SessionNotFoundError."""
        return self._tus_state(self._tus_session(user, name))

    def _tus_session(self, user: str, name: str) -> Session:
        session = self.session(user, name)
        if session.kind != KIND_TUS:
            raise SessionNotFoundError(f"{name!r} is not a tus upload")
        return session

    def _tus_state(self, session: Session, result: AssemblyResult | None = None) -> TusState:
        length = session.total_length or 0
        if session.committed:
            return TusState(session.name, length, length, None, session.upload_metadata, result)
        offset = protocol.contiguous_end(self._store.chunks(session.owner, session.name))
        return TusState(
            session.name, offset, length, self.expires_at(session), session.upload_metadata
        )

    def tus_append(
        self,
        user: str,
        name: str,
        offset: int,
        read: BodyReader,
        *,
        length: int | None,
        checksum: tuple[str, str] | None = None,
    ) -> TusState:
        """Append a PATCH body at ``offset``; commit the file when its last byte arrived.

        ``length``: the body's Content-Length (None if chunked); ``checksum``: the parsed
        Upload-Checksum. The bytes of a body cut short by the client are kept (unless a
        checksum was announced, which they cannot match), so the client resumes after them.
        Raises SessionNotFoundError, SessionBusyError, OffsetMismatchError,
        UploadTooLargeError (past Upload-Length), UploadChecksumError (the part is dropped),
        InsufficientSpaceError, and the provider's errors when committing.
        """
        session = self._tus_session(user, name)
        if session.busy(self._clock()):
            raise SessionBusyError(f"upload {name!r} is being assembled")
        state = self._tus_state(session)
        if offset != state.offset:
            raise OffsetMismatchError(state.offset, offset)
        remaining = state.length - state.offset
        if length is not None and length > remaining:
            raise UploadTooLargeError(
                f"{length} bytes sent but only {remaining} remain of Upload-Length {state.length}"
            )
        if state.complete:
            return state
        if remaining == 0:  # every byte is here but the commit did not happen (crash)
            return self._finish_tus(session)
        if length != 0:
            self._check_space(remaining + state.length)
            self._receive_part(session, offset, read, length, remaining, checksum)
        session = self.session(user, name)
        state = self._tus_state(session)
        if state.offset == state.length and not state.complete:
            return self._finish_tus(session)
        return state

    def _receive_part(
        self,
        session: Session,
        offset: int,
        read: BodyReader,
        length: int | None,
        remaining: int,
        checksum: tuple[str, str] | None,
    ) -> None:
        """Store a PATCH body at ``offset``.

        Without a checksum the body is stored in pieces of at most ``TUS_CHECKPOINT_BYTES``,
        each made durable (fsync) and recorded before the next one is read: a server killed
        in the middle of a PATCH keeps every whole piece received, and the offset reported
        afterwards says exactly what was kept. With ``Upload-Checksum`` the body is one piece,
        kept only whole and verified, since the checksum covers all of it.
        """
        if checksum is not None:
            self._receive_piece(session, offset, read, length, remaining, checksum)
            return
        done = 0
        while length is None or done < length:
            if length is None:  # chunked: read one byte past what remains, to see "too long"
                piece = min(TUS_CHECKPOINT_BYTES, remaining - done + 1)
            else:
                piece = min(TUS_CHECKPOINT_BYTES, length - done)
            got = self._receive_piece(session, offset + done, read, piece, remaining - done, None)
            done += got
            if got < piece:  # the body ended (or was cut short)
                return

    def _receive_piece(
        self,
        session: Session,
        offset: int,
        read: BodyReader,
        length: int | None,
        remaining: int,
        checksum: tuple[str, str] | None,
    ) -> int:
        """Store up to ``length`` bytes of the body as one chunk at ``offset``; returns how
        many arrived."""
        staged = self._store.stage(session)
        try:
            received, digests = self._read_body(staged, read, length, remaining)
            if received > remaining:
                raise UploadTooLargeError(f"the body is longer than the {remaining} bytes left")
            cut_short = length is not None and received < length
            if checksum is not None:
                if cut_short:
                    raise ClientGoneError("the body ended early; its checksum cannot match")
                algorithm, expected = checksum
                if digests.get(algorithm) != expected:
                    raise UploadChecksumError(
                        f"Upload-Checksum {algorithm} does not match the {received} bytes received"
                    )
        except BaseException:
            staged.discard()
            raise
        if received == 0:
            staged.discard()
            return 0

        def check(current: Session, chunks: list[Chunk]) -> None:
            now_at = protocol.contiguous_end(chunks)
            if now_at != offset:
                raise OffsetMismatchError(now_at, offset)

        end = offset + received - 1
        self._store.add_chunk(
            session,
            protocol.range_name(offset, end),
            staged,
            start=offset,
            end=end,
            check=check,
        )
        return received

    @staticmethod
    def _read_body(
        staged: StagedChunk, read: BodyReader, length: int | None, remaining: int
    ) -> tuple[int, Digests]:
        """Copy the body into ``staged``; stops one byte past ``remaining`` (too long)."""
        limit = length if length is not None else remaining + 1
        hasher = MultiHasher()
        received = 0
        while received < limit:
            block = read(min(BLOCK_SIZE, limit - received))
            if not block:
                break
            try:
                staged.write(block)
            except OSError as exc:
                raise os_error(exc, "writing an upload part") from exc
            hasher.update(block)
            received += len(block)
        return received, hasher.digests()

    def _finish_tus(self, session: Session) -> TusState:
        destination = session.destination or ""
        try:
            result = self._assemble(
                session, destination, None, session.total_length, session.mtime_ns
            )
        except SessionCommittedError:
            return self._tus_state(self.session(session.owner, session.name))
        return self._tus_state(self.session(session.owner, session.name), result)

    # ------------------------------------------------------------------ expiry

    def expire(self) -> int:
        """Remove idle sessions (older than the TTL), old committed records and orphaned
        chunk directories; returns the number of sessions removed."""
        now = self._clock()
        removed = 0
        stale = self._store.expired(
            now - self.limits.session_ttl_s, now - self.limits.committed_retention_s
        )
        for session in stale:
            try:
                if self._store.delete(session.owner, session.name, unless_busy=True):
                    removed += 1
            except SessionBusyError:
                continue
        self._store.remove_orphan_directories()
        if removed:
            log.info("expired %d upload session(s)", removed)
        return removed

    def start_maintenance(self, interval_s: float) -> None:
        """Run ``expire`` every ``interval_s`` in a daemon thread (idempotent)."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.expire()
                except UploadError as exc:
                    log.warning("upload session clean-up failed: %s", exc)

        self._thread = threading.Thread(target=loop, name="upload-gc", daemon=True)
        self._thread.start()

    def stop_maintenance(self) -> None:
        """Stop the clean-up thread (if running)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
