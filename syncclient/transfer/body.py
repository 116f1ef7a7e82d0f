"""Request bodies read from a file region, hashing while they stream.

A ``FileBody`` can be iterated again (an auth challenge or retry resends it); each pass
re-opens the file and starts fresh hashes. It throttles through the token bucket, counts
bytes for the budget (``on_bytes``: every byte handed to the connection) and for progress
(``on_progress``: a pass that starts again first reports minus what the last one counted),
stops on a hard cut-off, and raises FileChangedError if the file got shorter than announced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from syncclient.scan import Hashers
from syncclient.transfer import FileChangedError, StopRequestedError
from syncclient.transfer.bandwidth import TokenBucket

BLOCK = 256 * 1024


class FileBody:
    """``length`` bytes of ``path`` from ``offset``."""

    def __init__(
        self,
        path: Path,
        offset: int,
        length: int,
        bucket: TokenBucket,
        stop: threading.Event,
        on_bytes: Callable[[int], None],
        block: int = BLOCK,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.offset = offset
        self.length = length
        self.bucket = bucket
        self.stop = stop
        self.on_bytes = on_bytes
        self.block = block
        self.on_progress = on_progress
        self.hashers = Hashers()
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        if self.sent and self.on_progress is not None:
            self.on_progress(-self.sent)  # sent again: take back what the last pass counted
        self.hashers = Hashers()
        self.sent = 0
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            left = self.length
            while left > 0:
                if self.stop.is_set():
                    raise StopRequestedError("stopped mid-transfer")
                data = fh.read(min(self.block, left))
                if not data:
                    raise FileChangedError(f"{self.path} got shorter while being sent")
                self.bucket.take(len(data), self.stop)
                self.hashers.update(data)
                left -= len(data)
                self.sent += len(data)
                self.on_bytes(len(data))
                if self.on_progress is not None:
                    self.on_progress(len(data))
                yield data
