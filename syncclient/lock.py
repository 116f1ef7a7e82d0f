"""One run per repository at a time: an exclusive lock on a file in its state folder
(``flock`` on POSIX, ``msvcrt.locking`` on Windows), released when the process ends, even
by kill -9."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO


class RunLock:
    """``acquire()`` returns False if another process holds the lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Try to take the lock without waiting."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+b")
        try:
            if sys.platform == "win32":
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        fh.truncate(0)
        fh.write(str(os.getpid()).encode())
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        """Release the lock (closing the file releases it)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
