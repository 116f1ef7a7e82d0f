"""All digests in one streaming pass.

``MultiHasher`` feeds MD5, SHA-1 and SHA-256 from the same buffers; ``hash_stream`` and
``hash_file`` read in large blocks with constant memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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

_POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="hash")


class MultiHasher:
    """Feeds every kept algorithm from one pass over the data. Not thread-safe.

    ``pipelined``: ``update`` with an immutable ``bytes`` block of at least
    PARALLEL_MIN_BYTES returns as soon as the three digests have *started* on it, so the
    caller can write that block and read the next one while they run; the next ``update``
    (or ``digests``) first waits for them. Other blocks are consumed before returning, since
    their buffer may be reused.
    """

    def __init__(self, *, pipelined: bool = False) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._pipelined = pipelined
        self._running: list[Future[None]] = []
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` to every digest (see ``pipelined`` for when this returns)."""
        self._settle()
        if len(data) >= PARALLEL_MIN_BYTES:
            if self._pipelined and isinstance(data, bytes):
                self._running = [
                    _POOL.submit(h.update, data) for h in (self._md5, self._sha1, self._sha256)
                ]
            else:
                md5 = _POOL.submit(self._md5.update, data)
                sha1 = _POOL.submit(self._sha1.update, data)
                self._sha256.update(data)
                md5.result()
                sha1.result()
        else:
            self._md5.update(data)
            self._sha1.update(data)
            self._sha256.update(data)
        self.size += len(data)

    def _settle(self) -> None:
        """Wait until the digests have consumed every block handed to them."""
        running, self._running = self._running, []
        for future in running:
            future.result()

    def digests(self) -> Digests:
        """The digests of everything fed so far (the hasher stays usable)."""
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
