"""Closing a connection whose request body was not read, without losing the response.

When the server answers before it has read the body (a refusal: 401, 403, 413, 429, 507 ...)
it closes the connection instead of draining the body. Closing a socket with unread bytes
in its receive buffer makes the kernel send a reset, and a client still sending its body may
then lose the response it has not read yet. So such a socket is first half-closed (the
client sees the end of the response) and handed to ``Lingerer``, one thread with a selector
that discards what still arrives for at most ``linger_s`` seconds or ``max_bytes`` bytes and
then closes it. No worker waits for it; at most ``max_sockets`` linger at once (beyond that a
socket is closed at once).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time

_log = logging.getLogger(__name__)


class Lingerer:
    """See the module docstring."""

    def __init__(
        self, *, linger_s: float = 2.0, max_bytes: int = 1 << 20, max_sockets: int = 1024
    ) -> None:
        self.linger_s = linger_s
        self.max_bytes = max_bytes
        self.max_sockets = max_sockets
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._socks: dict[int, tuple[socket.socket, float, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (idempotent)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="linger", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close what still lingers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            for fd in list(self._socks):
                self._close(fd)

    def __len__(self) -> int:
        with self._lock:
            return len(self._socks)

    def hand_over(self, sock: socket.socket) -> None:
        """Half-close ``sock`` now; discard its input for a while, then close it."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_WR)
        with self._lock:
            if len(self._socks) >= self.max_sockets or self._stop.is_set():
                _close_quietly(sock)
                return
            try:
                fd = sock.fileno()
                sock.settimeout(0)
                self._selector.register(fd, selectors.EVENT_READ)
            except (OSError, ValueError, KeyError):
                _close_quietly(sock)
                return
            self._socks[fd] = (sock, time.monotonic() + self.linger_s, self.max_bytes)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready = self._selector.select(timeout=0.2)
            except OSError:
                ready = []
            now = time.monotonic()
            with self._lock:
                for key, _ in ready:
                    self._discard(key.fd)
                for fd, (_, due, _) in list(self._socks.items()):
                    if due <= now:
                        self._close(fd)

    def _discard(self, fd: int) -> None:
        entry = self._socks.get(fd)
        if entry is None:
            return
        sock, due, budget = entry
        try:
            data = socket.socket.recv(sock, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        budget -= len(data)
        if not data or budget <= 0:
            self._close(fd)
        else:
            self._socks[fd] = (sock, due, budget)

    def _close(self, fd: int) -> None:
        entry = self._socks.pop(fd, None)
        with contextlib.suppress(OSError, ValueError, KeyError):
            self._selector.unregister(fd)
        if entry is not None:
            _close_quietly(entry[0])


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
