"""Staged files and the durability primitives around ``os.replace``.

A staged file lives in the staging directory (same filesystem as the root) under a unique
name, is written with ``os.write`` and fsynced before it is renamed onto its target; the
caller then fsyncs the target's directory. Functions here raise OSError as the OS reports it;
callers translate it.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

STAGING_FILE_MODE = 0o600


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write less). Raises OSError."""
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(path: Path) -> None:
    """Flush the directory entry table of ``path`` to disk. Raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows (else 0o022)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


@dataclass(slots=True)
class _FileState:
    """What the finaliser of a staged file needs (kept apart so it holds no reference)."""

    fd: int
    path: Path
    closed: bool = False
    landed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def discard(self) -> None:
        """Close the descriptor and unlink the staged name unless it was renamed away."""
        try:
            self.close()
        finally:
            if not self.landed:
                self.landed = True
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)


class StagedFile:
    """One open staging file. Dropping it without ``land``/``discard`` removes it."""

    def __init__(self, path: Path) -> None:
        """Create ``path`` exclusively with mode 0o600. Raises OSError (EEXIST if taken)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(path, flags, STAGING_FILE_MODE)
        self._state = _FileState(fd, path)
        self._finalizer = weakref.finalize(self, _discard_quietly, self._state)

    @property
    def path(self) -> Path:
        """Where the staged bytes are."""
        return self._state.path

    @property
    def fd(self) -> int:
        """The open descriptor (valid until ``close`` or ``discard``)."""
        return self._state.fd

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``. Raises OSError."""
        write_all(self._state.fd, data)

    def finish(self, mtime_ns: int, mode: int) -> os.stat_result:
        """Set permissions and mtime, then fsync; returns the resulting stat. Raises OSError."""
        fd = self._state.fd
        os.fchmod(fd, mode)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
        os.fsync(fd)
        return os.fstat(fd)

    def landed(self) -> None:
        """Record that the file was renamed onto its target (nothing left to unlink)."""
        self._state.landed = True

    def close(self) -> None:
        """Close the descriptor. Raises OSError."""
        self._state.close()

    def discard(self) -> None:
        """Close and remove the staged file. Idempotent; never raises."""
        self._finalizer.detach()
        _discard_quietly(self._state)


def _discard_quietly(state: _FileState) -> None:
    with contextlib.suppress(OSError):
        state.discard()
