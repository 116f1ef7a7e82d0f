"""Free-space accounting: the reserve kept free on the filesystem of the root."""

from __future__ import annotations

import shutil
from pathlib import Path

from providers.errors import InsufficientStorageError

CHECK_EVERY_BYTES = 4 * 1024 * 1024


class SpaceGuard:
    """Keeps ``reserve_bytes`` free below ``root``."""

    def __init__(self, root: Path, reserve_bytes: int) -> None:
        self.root = root
        self.reserve_bytes = max(0, reserve_bytes)

    def available(self) -> int:
        """Bytes new writes may still use (never negative). Raises OSError."""
        return max(0, shutil.disk_usage(self.root).free - self.reserve_bytes)


class WriteBudget:
    """Per-write check that the reserve is not eaten into, sampled every few MiB."""

    def __init__(self, guard: SpaceGuard) -> None:
        self._guard = guard
        self._unchecked = CHECK_EVERY_BYTES  # check on the first write

    def charge(self, nbytes: int) -> None:
        """Account for ``nbytes`` about to be written.

        Raises InsufficientStorageError if they would eat into the reserve, OSError if the
        free space cannot be read.
        """
        if self._guard.reserve_bytes == 0:
            return
        self._unchecked += nbytes
        if self._unchecked < CHECK_EVERY_BYTES:
            return
        self._unchecked = 0
        if self._guard.available() < nbytes:
            raise InsufficientStorageError("not enough free space")
