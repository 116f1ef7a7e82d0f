"""Request heads read without a worker: cheroot's selector thread collects them.

cheroot hands a connection to a worker thread as soon as it has *some* bytes, and the worker
then blocks in ``recv`` until the request line and headers are complete. A client that sends
its head slowly ("slowloris") therefore holds a worker, and a hundred of them hold them all.

``HeadReader`` changes that: when the selector reports a connection readable, it reads what
is there without blocking into the connection's ``PrefetchReader`` and puts the connection
back into the selector until the whole head (up to the empty line) has arrived. Only then,
or when the client closed or sent more than ``max_head_bytes``, does a worker get it; the
worker parses the head from memory, so a worker is never held by a slow head. For TLS the
handshake is driven the same way (non-blocking, in the selector thread).

A head must be complete within the header deadline (``HeaderDeadlines``, which closes late
sockets), and at most ``max_per_address`` connections of one client address are open at a
time (more are closed at once, before any byte is read), except for trusted proxies.
"""

from __future__ import annotations

import _pyio
import contextlib
import ipaddress
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from cheroot.makefile import StreamReader

_log = logging.getLogger(__name__)

_READ_SIZE = 65536
LARGE_READ = 64 * 1024
"""``PrefetchReader.read`` of at least this many bytes fills one buffer straight from the
socket instead of going through the pure-Python buffering (which copies every byte three or
four times and allocates per ``recv``)."""
_END_OF_HEAD = b"\r\n\r\n"
_PLAIN_HTTP_ON_TLS = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 62\r\n"
    b"Connection: close\r\n\r\nThe client sent plain HTTP to a port that only speaks HTTPS.\r\n"
)


class _Deadlines(Protocol):
    def begin(self, sock: socket.socket) -> int: ...

    def end(self, ticket: int) -> None: ...


class _PrefixedSocketIO(socket.SocketIO):
    """A socket's raw stream that first returns bytes read ahead of time (``prefix``)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock, "rb")
        self.prefix = bytearray()

    def readinto(self, b: Any) -> int | None:
        if self.prefix:
            n = min(len(b), len(self.prefix))
            b[:n] = self.prefix[:n]
            del self.prefix[:n]
            return n
        return super().readinto(b)

    def recv(self, size: int) -> bytes | None:
        """Up to ``size`` bytes as one new ``bytes`` object, the prefix first (so a full
        ``recv`` needs no further copy); b"" at EOF, None when a non-blocking socket has
        nothing now. Errors as ``readinto``."""
        if self.prefix:
            n = min(size, len(self.prefix))
            data = bytes(self.prefix[:n])
            del self.prefix[:n]
            return data
        self._checkClosed()
        self._checkReadable()  # type: ignore[attr-defined]
        if self._timeout_occurred:  # type: ignore[has-type]
            raise OSError("cannot read from timed out object")
        try:
            return self._sock.recv(size)  # type: ignore[attr-defined,no-any-return]
        except TimeoutError:
            self._timeout_occurred = True
            raise
        except BlockingIOError:
            return None


class PrefetchReader(StreamReader):
    """cheroot's socket reader, plus bytes fed to it ahead of the reads (``feed``)."""

    # _pyio.BufferedReader's state (set by its __init__), read by ``readline``
    _read_buf: bytes
    _read_pos: int
    _read_lock: threading.Lock

    def __init__(self, sock: socket.socket, bufsize: int = 8192) -> None:
        self._prefixed = _PrefixedSocketIO(sock)
        _pyio.BufferedReader.__init__(self, self._prefixed, bufsize)
        self.bytes_read = 0

    def readline(self, size: int | None = -1) -> bytes:
        """One line, as the inherited ``readline`` returns it; a line that is already
        buffered (the request head usually is, whole) is handed out in one step instead of a
        peek (a copy of the buffer) and a read per line."""
        limit = -1 if size is None else size
        with self._read_lock:
            buffer: bytes = self._read_buf
            position: int = self._read_pos
            end = buffer.find(b"\n", position)
            if end < 0 or (limit >= 0 and end + 1 - position > limit):
                line = None
            else:
                self._read_pos = end + 1
                line = buffer[position : end + 1]
        if line is None:
            slow: bytes = super().readline(size)
            return slow
        self.bytes_read += len(line)
        return line

    @property
    def _prefix(self) -> bytearray:
        return self._prefixed.prefix

    def feed(self, data: bytes) -> None:
        """Queue ``data`` (read from the socket elsewhere) after what is buffered."""
        self._prefix.extend(data)

    def buffered(self) -> bytes:
        """Everything received but not yet read by the request parser."""
        buffer: bytes = getattr(self, "_read_buf", b"")
        position: int = getattr(self, "_read_pos", 0)
        return bytes(buffer[position:]) + bytes(self._prefix)

    def has_data(self) -> bool:
        """True if bytes are waiting to be read (buffered or fed)."""
        buffer: bytes = getattr(self, "_read_buf", b"")
        position: int = getattr(self, "_read_pos", 0)
        return len(buffer) > position or bool(self._prefix)

    def read(self, size: int | None = -1) -> bytes:
        """Like ``BufferedReader.read``: ``size`` bytes, fewer only at EOF (or when a
        non-blocking socket has nothing more). A read of at least LARGE_READ bytes takes what
        is buffered, then ``recv``s the rest; when one ``recv`` brings it all (the usual case
        while a large body streams in) the bytes are returned without any copy."""
        if size is None or size < LARGE_READ:
            return super().read(size)  # type: ignore[no-any-return,no-untyped-call]
        with self._read_lock:
            buffer: bytes = self._read_buf
            position: int = self._read_pos
            take = min(size, len(buffer) - position)
            parts = [buffer[position : position + take]] if take else []
            self._read_buf, self._read_pos = buffer, position + take
            got = take
            while got < size:
                data = self._prefixed.recv(size - got)
                if not data:
                    break
                parts.append(data)
                got += len(data)
        self.bytes_read += got
        return parts[0] if len(parts) == 1 else b"".join(parts)


def head_complete(data: bytes) -> bool:
    """True if ``data`` holds a request line and headers up to the empty line (empty lines
    before the request line are skipped, as cheroot does; bare LF line ends count too, so
    that the worker refuses them with 400 at once)."""
    head = data.lstrip(b"\r\n")
    return _END_OF_HEAD in head or b"\n\n" in head


class AddressCounter:
    """Open connections per client address, at most ``cap`` each (0: no cap); addresses in
    ``exempt`` (reverse proxies, which carry many clients) are counted but never capped."""

    def __init__(self, cap: int, exempt: Sequence[str] = ()) -> None:
        self.cap = cap
        self.exempt = tuple(ipaddress.ip_network(n, strict=False) for n in exempt)
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def _capped(self, addr: str) -> bool:
        if not self.cap:
            return False
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return True
        return not any(ip in net for net in self.exempt)

    def admit(self, addr: str) -> bool:
        """Count a new connection of ``addr``; False (not counted) if it is at the cap."""
        with self._lock:
            count = self._open.get(addr, 0)
            if count >= self.cap and self._capped(addr):
                return False
            self._open[addr] = count + 1
            return True

    def release(self, addr: str) -> None:
        """A connection of ``addr`` was closed."""
        with self._lock:
            count = self._open.get(addr, 0) - 1
            if count <= 0:
                self._open.pop(addr, None)
            else:
                self._open[addr] = count


class HeadReader:
    """Installed as ``server.process_conn`` (see the module docstring)."""

    def __init__(
        self,
        server: Any,
        deadlines: _Deadlines | None,
        *,
        max_head_bytes: int,
        max_per_address: int,
        exempt: Sequence[str] = (),
    ) -> None:
        self.server = server
        self.deadlines = deadlines
        self.max_head_bytes = max_head_bytes
        self.addresses = AddressCounter(max_per_address, exempt)
        self.refused = 0
        self._hand_to_worker = server.process_conn

    def install(self) -> None:
        """Route every connection cheroot wants to process through ``process_conn``."""
        self.server.process_conn = self.process_conn
        self.server.davsync_head_reader = self

    # --- called by cheroot (selector thread, or a worker putting back a kept-alive conn) ---

    def process_conn(self, conn: Any) -> None:
        """A new connection, or one with bytes to read: read its head or hand it on."""
        try:
            if getattr(conn, "davsync_new", False):
                conn.davsync_new = False
                self._accept(conn)
            else:
                self._read_head(conn)
        except Exception:  # never let one connection stop the selector thread
            _log.exception("unexpected error while reading a request head")
            self._close(conn)

    # --- steps -----------------------------------------------------------------------------

    def _accept(self, conn: Any) -> None:
        addr = str(getattr(conn, "remote_addr", "") or "")
        if not self.addresses.admit(addr):
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                _log.warning(
                    "closed a connection from %s: %d open from that address",
                    addr,
                    self.addresses.cap,
                )
            conn.davsync_addr = None
            self._close(conn)
            return
        conn.davsync_addr = addr
        conn.last_used = time.time()  # cheroot expires idle connections by this
        self._wait(conn)

    def _read_head(self, conn: Any) -> None:
        rfile = conn.rfile
        if not isinstance(rfile, PrefetchReader):
            self._hand_to_worker(conn)
            return
        sock = conn.socket
        if getattr(conn, "davsync_handshake_pending", False):
            outcome = self._handshake(conn)
            if outcome != "done":
                self._wait(conn) if outcome == "wait" else self._close(conn)
                return
        eof = self._read_available(sock, rfile)
        data = rfile.buffered()
        if eof and not data:
            self._done_waiting(conn)
            self._close(conn)
        elif eof or head_complete(data) or len(data) > self.max_head_bytes:
            self._done_waiting(conn)
            self._hand_to_worker(conn)
        else:
            if self.deadlines is not None and getattr(conn, "davsync_ticket", None) is None:
                conn.davsync_ticket = self.deadlines.begin(sock)
            self._wait(conn)

    def _read_available(self, sock: socket.socket, rfile: PrefetchReader) -> bool:
        """Read without blocking until nothing is left; True if the client closed."""
        timeout = sock.gettimeout()
        sock.settimeout(0)
        try:
            total = 0
            while total <= self.max_head_bytes:
                try:
                    data = sock.recv(_READ_SIZE)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    return False
                except OSError:
                    return True
                if not data:
                    return True
                rfile.feed(data)
                total += len(data)
            return False
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(timeout)

    def _handshake(self, conn: Any) -> str:
        """One non-blocking step of the TLS handshake: ``done``, ``wait`` or ``failed``."""
        sock: ssl.SSLSocket = conn.socket
        timeout = sock.gettimeout()
        sock.settimeout(0)
        try:
            sock.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            if self.deadlines is not None and getattr(conn, "davsync_ticket", None) is None:
                conn.davsync_ticket = self.deadlines.begin(sock)
            return "wait"
        except ssl.SSLError as exc:
            if "http request" in str(exc.args).lower():
                with contextlib.suppress(OSError):
                    os.write(sock.fileno(), _PLAIN_HTTP_ON_TLS)
            self._done_waiting(conn)
            return "failed"
        except OSError:
            self._done_waiting(conn)
            return "failed"
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(timeout)
        conn.davsync_handshake_pending = False
        conn.ssl_env = self.server.ssl_adapter.get_environ(sock)
        return "done"

    # --- bookkeeping -----------------------------------------------------------------------

    def _wait(self, conn: Any) -> None:
        """Put ``conn`` (back) into cheroot's selector until it is readable."""
        connections = getattr(self.server, "_connections", None)
        if connections is None:  # the server is stopping
            self._close(conn)
            return
        try:
            connections._selector.register(conn.socket.fileno(), selectors.EVENT_READ, data=conn)
        except (OSError, ValueError, KeyError):
            self._close(conn)

    def _done_waiting(self, conn: Any) -> None:
        ticket = getattr(conn, "davsync_ticket", None)
        if ticket is not None and self.deadlines is not None:
            self.deadlines.end(ticket)
        conn.davsync_ticket = None

    def _close(self, conn: Any) -> None:
        self._done_waiting(conn)
        with contextlib.suppress(Exception):
            conn.close()

    def release(self, conn: Any) -> None:
        """``conn`` is closed: it no longer counts against its address."""
        addr = getattr(conn, "davsync_addr", None)
        if addr is not None:
            conn.davsync_addr = None
            self.addresses.release(addr)
