"""Resumable upload of one large file through a server chunk session.

The session is written to the journal *before* it is created on the server, and every
chunk the server acknowledges is journaled at once, so a client killed at any point finds
the session on its next run. On resume the server's own chunk listing decides what is
already there (a chunk acknowledged just before the kill counts even if its journal line
was lost); only missing or short chunks are sent again. A session whose file changed
(size or SHA-1) is aborted and a new one started; a file that was only touched (same
content, new mtime) or a changed chunk size setting keeps its session, which goes on with
the chunk size it was started with. A commit refused for a reason that may pass (a busy,
full or failing server) keeps the session; only a refusal of its content aborts it. The
commit (``MOVE .file``) declares the whole file's SHA-1, so the server refuses anything
but exactly the bytes that were hashed before sending.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from syncclient import SyncClientError
from syncclient.journal import Journal, SessionRow
from syncclient.model import LocalFile, RemoteFile
from syncclient.transfer import FileChangedError
from syncclient.transfer.body import FileBody
from syncclient.transports import PutResult, StatusError, Transport

UNSUPPORTED_STATUS = frozenset({403, 404, 405, 409, 501})
MAX_CHUNKS = 10_000
"""A session holds at most this many chunks: Nextcloud chunking v2 numbers them 1 to 10000
(davserver and Nextcloud refuse chunk 10001)."""


def _hashes(r: RemoteFile) -> dict[str, str]:
    pairs = (("sha256", r.sha256), ("sha1", r.sha1), ("md5", r.md5))
    return {k: v for k, v in pairs if v}


class ChunkingUnsupportedError(SyncClientError):
    """The server has no upload sessions (MKCOL in the upload area refused)."""


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """Chunk ``n`` (1-based) covers [offset, offset + size)."""

    n: int
    offset: int
    size: int


def chunk_size_for(total: int, chunk_size: int) -> int:
    """The chunk size for a ``total``-byte file: ``chunk_size``, or the smallest size that
    keeps the file within MAX_CHUNKS chunks (a 200 GiB file with 10 MiB chunks would need
    20480 and fail at chunk 10001)."""
    return max(chunk_size, math.ceil(total / MAX_CHUNKS))


def chunk_layout(total: int, chunk_size: int) -> list[ChunkPlan]:
    """The chunks of a ``total``-byte file (at least one, even for 0 bytes)."""
    count = max(1, math.ceil(total / chunk_size))
    return [
        ChunkPlan(n + 1, n * chunk_size, min(chunk_size, total - n * chunk_size))
        for n in range(count)
    ]


def _ignore(_n: int) -> None:
    return None


Call = Callable[[str, Callable[[], object]], object]
MakeBody = Callable[[int, int], FileBody]
Emit = Callable[..., None]


@dataclass
class ChunkedUpload:
    """Uploads ``f`` (whose digests are set) via a session. ``call(what, fn)`` runs ``fn``
    with retries; ``body(offset, size)`` makes a throttled, counted body; ``on_present(n)``
    is told of each chunk an earlier run left on the server (progress counts it at once).
    ``chunk_size`` is raised where needed to keep the file within MAX_CHUNKS chunks
    (``chunk_size_for``; the same file gets the same layout in every run)."""

    transport: Transport
    journal: Journal
    f: LocalFile
    chunk_size: int
    call: Call
    body: MakeBody
    emit: Emit
    unchanged: Callable[[], bool]
    on_present: Callable[[int], None] = _ignore
    chunks_sent: int = 0
    bytes_resumed: int = 0

    def __post_init__(self) -> None:
        self.chunk_size = chunk_size_for(self.f.size, self.chunk_size)

    def run(self) -> PutResult:
        """Send missing chunks and commit. Raises ChunkingUnsupportedError, FileChangedError,
        TransportError, StopRequestedError."""
        assert self.f.digests is not None
        session, present = self._open_session()
        layout = chunk_layout(self.f.size, self.chunk_size)
        if present:
            self.emit(
                "resume",
                path=self.f.path,
                chunks=len(layout),
                chunks_present=sum(1 for c in layout if present.get(c.n) == c.size),
            )
        for c in layout:
            if present.get(c.n) == c.size:
                self.bytes_resumed += c.size
                self.on_present(c.size)
                continue
            self._send_chunk(session, c, len(layout))
        if not self.unchanged():
            self._abort(session)
            raise FileChangedError(f"{self.f.path} changed while being sent")
        result = self._commit(session)
        self.journal.session_drop(self.f.path)
        return result

    def _open_session(self) -> tuple[str, dict[int, int]]:
        f = self.f
        assert f.digests is not None
        row = self.journal.session_get(f.path)
        if row is not None:
            same = (row.size, row.sha1) == (f.size, f.digests.sha1) and (
                chunk_size_for(row.size, row.chunk_size) == row.chunk_size
            )
            if same:
                present = self.call(
                    f"PROPFIND session of {f.path}",
                    lambda: self.transport.session_chunks(row.session_url),
                )
                if isinstance(present, dict):
                    self.chunk_size = row.chunk_size  # the layout the session began with
                    return row.session_url, present
            else:
                self._abort(row.session_url)
            self.journal.session_drop(f.path)
        session = f"syncclient-{uuid.uuid4().hex}"
        self.journal.session_put(
            SessionRow(
                f.path, session, f.size, f.mtime_ns, f.digests.sha1, self.chunk_size, time.time()
            )
        )
        try:
            self.call(
                f"MKCOL session for {f.path}",
                lambda: self.transport.session_create(session, f.path, f.size),
            )
        except StatusError as exc:
            self.journal.session_drop(f.path)
            if exc.status in UNSUPPORTED_STATUS:
                raise ChunkingUnsupportedError(str(exc)) from exc
            raise
        return session, {}

    def _send_chunk(self, session: str, c: ChunkPlan, count: int) -> None:
        path, total = self.f.path, self.f.size
        body = self.body(c.offset, c.size)  # one body: a retry re-reads it and recounts

        def put() -> None:
            self.transport.session_put(session, c.n, body, c.size, path, total)

        self.call(f"PUT chunk {c.n} of {path}", put)
        self.journal.chunk_ack(session, c.n, c.size)
        self.chunks_sent += 1
        self.emit("chunk", path=path, n=c.n, of=count, size=c.size)

    def _commit(self, session: str) -> PutResult:
        f = self.f
        assert f.digests is not None
        sha1 = f.digests.sha1
        try:
            result = self.call(
                f"MOVE session of {f.path}",
                lambda: self.transport.session_commit(
                    session, f.path, f.size, sha1, f.mtime_ns // 1_000_000_000
                ),
            )
        except StatusError as exc:
            if exc.status in (404, 409):
                # session gone or already committed: an earlier MOVE (whose answer was lost)
                # may have stored the file; the server's hash decides
                remote = self.transport.stat(f.path)
                if remote is not None and remote.hash_matches(f.digests):
                    return PutResult(remote.etag, _hashes(remote))
            if not exc.transient:  # e.g. a checksum mismatch: these chunks will not do
                self._abort(session)
                self.journal.session_drop(f.path)
            raise  # a busy, full or failing server: the next commit may succeed
        assert isinstance(result, PutResult)
        return result

    def _abort(self, session: str) -> None:
        try:
            self.transport.session_abort(session)
        except Exception:  # best effort: the server expires abandoned sessions anyway
            return
