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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from providers.fsutil import (
    fsync_dir as fsync_dir,  # re-exported: the local provider imports it here
)
from providers.local.writeback import WRITEBACK_BYTES, start_writeback

STAGING_FILE_MODE = 0o600
FLUSH_AHEAD_BYTES = 32 * 1024 * 1024
"""Where ``start_writeback`` cannot be used: after this many bytes a staged file starts
writing them out in the background (``fdatasync`` in a worker thread), so the fsync before
the commit has only the tail left instead of the whole file, and the disk works while the
body is still arriving."""

_FLUSHER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="flush-ahead")


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write less). Raises OSError."""
    view = memoryview(data).cast("B")
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
    flush: Future[None] | None = None

    def start_flush(self) -> None:
        """Start writing the file's dirty pages out, unless that is still under way."""
        if self.flush is None or self.flush.done():
            self.settle_flush()
            self.flush = _FLUSHER.submit(os.fdatasync, self.fd)

    def settle_flush(self) -> None:
        """Wait for a background flush (cancel it if it has not started). Raises the OSError
        it hit: the kernel reports a write-back error only once, so it must not be lost."""
        flush, self.flush = self.flush, None
        if flush is not None and not flush.cancel():
            flush.result()

    def close(self) -> None:
        if not self.closed:
            try:
                self.settle_flush()  # never close the descriptor under a running flush
            finally:
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
        self._written = 0
        self._flushed = 0  # bytes before this offset are being (or have been) written out
        self._writeback = True  # sync_file_range works here (until it says otherwise)
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
        """Append ``data``; every ``WRITEBACK_BYTES`` start writing the new bytes out
        (``start_writeback``; where that is not available, a background flush every
        ``FLUSH_AHEAD_BYTES``). Raises OSError."""
        fd = self._state.fd
        write_all(fd, data)
        self._written += len(data)
        pending = self._written - self._flushed
        if pending < WRITEBACK_BYTES:
            return
        if self._writeback:
            self._writeback = start_writeback(fd, self._flushed, pending)
            if self._writeback:
                self._flushed = self._written
                return
        if pending >= FLUSH_AHEAD_BYTES:
            self._flushed = self._written
            self._state.start_flush()

    def finish(self, mtime_ns: int, mode: int) -> os.stat_result:
        """Set permissions and mtime, then fsync; returns the resulting stat. Raises OSError."""
        fd = self._state.fd
        self._state.settle_flush()
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
