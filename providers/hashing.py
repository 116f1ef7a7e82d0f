"""All digests in one streaming pass.

``MultiHasher`` feeds MD5, SHA-1 and SHA-256 from the same buffers; ``hash_stream`` and
``hash_file`` read in large blocks with constant memory.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

ALGORITHMS = ("md5", "sha1", "sha256")
BLOCK_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Digests:
    """Lower-case hex digests of one file's content."""

    md5: str
    sha1: str
    sha256: str

    def get(self, algorithm: str) -> str:
        """Return the hex digest for ``algorithm`` (md5, sha1 or sha256; case-insensitive).

        Raises KeyError for an algorithm that is not kept.
        """
        name = normalize_algorithm(algorithm)
        if name not in ALGORITHMS:
            raise KeyError(algorithm)
        return str(getattr(self, name))

    def as_oc_checksums(self) -> str:
        """The ownCloud 10 form: ``SHA1:<hex> MD5:<hex> SHA256:<hex>``."""
        return f"SHA1:{self.sha1} MD5:{self.md5} SHA256:{self.sha256}"


def normalize_algorithm(name: str) -> str:
    """Map spellings such as ``SHA-256``, ``sha256``, ``SHA1``, ``sha`` to md5/sha1/sha256."""
    n = name.strip().lower().replace("-", "").replace("_", "")
    return {"sha": "sha1"}.get(n, n)


PARALLEL_MIN_BYTES = 64 * 1024
"""Blocks at least this large are hashed by the three algorithms concurrently (hashlib
releases the GIL), so one stream is hashed at the speed of the slowest algorithm instead of
the sum of all three."""

LANE_BYTES = 2 * 1024 * 1024
"""Bytes a pipelined hasher may have queued before ``update`` waits (it always takes one
block): memory stays at about this much per stream, whatever the block size and however
fast the caller produces blocks. The three lanes share the queued blocks."""
LANE_TURN = 16
"""Blocks a lane hashes before it lets other streams' lanes have its pool thread."""

_POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="hash")
_LANE_POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="hash-lane")

_Hash = Any  # a hashlib object (``hashlib._Hash`` is not public)


class _Lane:
    """Feeds queued blocks, in order, to some digests, on a ``_LANE_POOL`` thread that runs
    only while blocks are waiting (no thread of its own, so nothing to stop when dropped).
    After LANE_TURN blocks it goes to the back of the pool's queue, so that more streams
    than threads all make progress.

    One producer (``put``, ``wait``) at a time. ``put`` waits while LANE_BYTES or more are
    queued, until at most half of that is left; ``wait`` returns when all are consumed and
    raises what a digest raised (then the lane consumes the rest without hashing). Only
    C-level locks are used per block: the GIL is handed back and forth thousands of times
    per GiB, and ``threading.Condition`` would cost more than hashing a block.
    """

    def __init__(self, hashes: tuple[_Hash, ...]) -> None:
        self._hashes = hashes
        self._queue: deque[bytes] = deque()
        self._queued = 0  # bytes in _queue
        self._lock = threading.Lock()
        self._running = False  # a drain is queued in the pool or running
        self._producer_waits = False
        self._wake = threading.Lock()  # released (by the drain) to wake the producer
        self._wake.acquire()
        self._error: BaseException | None = None

    def put(self, block: bytes) -> None:
        while True:
            with self._lock:
                if self._queued < LANE_BYTES:
                    self._queue.append(block)
                    self._queued += len(block)
                    if not self._running:
                        self._running = True
                        _LANE_POOL.submit(self._drain)
                    return
                self._producer_waits = True
            self._wake.acquire()

    def wait(self) -> None:
        while True:
            with self._lock:
                if not self._running:
                    break
                self._producer_waits = True
            self._wake.acquire()
        if self._error is not None:
            raise self._error

    def _wake_producer(self) -> None:
        """Wake a waiting producer; call with ``_lock`` held."""
        if self._producer_waits:
            self._producer_waits = False
            self._wake.release()

    def _drain(self) -> None:
        while self._drain_turn():
            try:
                _LANE_POOL.submit(self._drain)  # more may be queued: other lanes go first
                return
            except RuntimeError:  # the interpreter is shutting down: finish here
                continue

    def _drain_turn(self) -> bool:
        """Hash up to LANE_TURN queued blocks; False once the queue is empty (the lane is
        then no longer running)."""
        for _ in range(LANE_TURN):
            with self._lock:
                if not self._queue:
                    self._running = False
                    self._wake_producer()
                    return False
                block = self._queue.popleft()
                self._queued -= len(block)
                if self._queued <= LANE_BYTES // 2:
                    self._wake_producer()
            if self._error is None:
                try:
                    for digest in self._hashes:
                        digest.update(block)
                except BaseException as exc:  # handed to the producer by ``wait``
                    self._error = exc
        return True


class MultiHasher:
    """Feeds every kept algorithm from one pass over the data. Not thread-safe.

    ``pipelined``: ``update`` with a block of at least PARALLEL_MIN_BYTES queues it (an
    immutable ``bytes`` as is, anything else as a copy) and returns at once; MD5 and the two
    SHAs each consume their queue in order on worker threads, so the caller reads and writes
    the next blocks while they run. About LANE_BYTES at most wait (``update`` then
    waits). ``digests`` waits until every queued block is consumed. Without
    ``pipelined``, a large block is hashed by the three algorithms concurrently and
    consumed before ``update`` returns.
    """

    def __init__(self, *, pipelined: bool = False) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._pipelined = pipelined
        self._lanes: tuple[_Lane, ...] = ()
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` to every digest (see ``pipelined`` for when this returns)."""
        size = memoryview(data).nbytes if not isinstance(data, bytes) else len(data)
        if size >= PARALLEL_MIN_BYTES and self._pipelined:
            block = data if isinstance(data, bytes) else bytes(data)
            if not self._lanes:
                self._lanes = (
                    _Lane((self._md5,)),
                    _Lane((self._sha1,)),
                    _Lane((self._sha256,)),
                )
            for lane in self._lanes:
                lane.put(block)
        else:
            self._settle()
            if size >= PARALLEL_MIN_BYTES:
                md5 = _POOL.submit(self._md5.update, data)
                sha1 = _POOL.submit(self._sha1.update, data)
                self._sha256.update(data)
                md5.result()
                sha1.result()
            else:
                self._md5.update(data)
                self._sha1.update(data)
                self._sha256.update(data)
        self.size += size

    def _settle(self) -> None:
        """Wait until the digests have consumed every block handed to them."""
        for lane in self._lanes:
            lane.wait()

    def digests(self) -> Digests:
        """The digests of everything fed so far (the hasher stays usable). Raises what a
        digest raised on a pipelined block."""
        self._settle()
        return Digests(
            md5=self._md5.hexdigest(),
            sha1=self._sha1.hexdigest(),
            sha256=self._sha256.hexdigest(),
        )


def hash_chunks(chunks: Iterable[bytes]) -> Digests:
    """Digests of the concatenation of ``chunks``."""
    hasher = MultiHasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digests()


def hash_stream(stream: BinaryIO, block_size: int = BLOCK_SIZE) -> Digests:
    """Digests of everything readable from ``stream`` (read in ``block_size`` blocks)."""
    hasher = MultiHasher()
    buf = bytearray(block_size)
    view = memoryview(buf)
    while True:
        n = stream.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        hasher.update(view[:n])
    return hasher.digests()


def hash_file(path: Path) -> Digests:
    """Digests of the file at ``path``. Raises OSError as the OS reports it."""
    with open(path, "rb", buffering=0) as f:
        return hash_stream(f)
