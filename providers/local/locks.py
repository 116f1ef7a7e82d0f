"""Inter-process, per-path commit locks (``fcntl.flock`` on files in ``state_dir/locks``).

Paths are hashed (SHA-1) onto a fixed set of lock files, so the directory never grows with
the number of stored files; two paths that share a lock file merely serialise their (short)
critical sections. ``flock`` locks belong to the open file description, so they exclude
threads of one process as well as other processes. Never nest ``hold`` calls in one thread:
take every lock an operation needs in one call (they are acquired in a fixed order).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

STRIPE_HEX_DIGITS = 3  # 4096 lock files at most


class PathLocks:
    """Exclusive locks keyed by storage path."""

    def __init__(self, directory: Path) -> None:
        """Use (and create) ``directory`` for the lock files. Raises OSError."""
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory

    def lock_file(self, path: str) -> Path:
        """The lock file guarding storage path ``path``."""
        digest = hashlib.sha1(path.encode("utf-8"), usedforsecurity=False).hexdigest()
        return self.directory / digest[:STRIPE_HEX_DIGITS]

    @contextmanager
    def hold(self, *paths: str) -> Iterator[None]:
        """Hold the locks of all ``paths`` for the duration of the block. Raises OSError."""
        files = sorted({self.lock_file(p) for p in paths})
        with ExitStack() as stack:
            for file in files:
                fd = os.open(file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                stack.callback(os.close, fd)
                fcntl.flock(fd, fcntl.LOCK_EX)
                stack.callback(fcntl.flock, fd, fcntl.LOCK_UN)
            yield
