"""Hardening of cheroot's HTTP/1.1 parsing, before any WSGI code runs.

cheroot reads the request line and headers of a connection in a worker thread, with a
per-``recv`` timeout only. So a client that sends one header byte just before every timeout
("slowloris") keeps a worker busy for ever, and a few such clients starve everybody. It also
keeps the *last* of two ``Content-Length`` headers, folds continuation lines and maps
``X_Forwarded_For`` and ``X-Forwarded-For`` onto the same WSGI key. ``harden`` fixes all of
that on a ``cheroot.wsgi.Server``:

- ``HeaderDeadlines``: the request line and headers must arrive within ``header_timeout_s``
  of the first byte; a watchdog thread shuts the socket of a request that is late, which
  frees its worker at once.
- ``davserver.head_reader.HeadReader``: connections wait in cheroot's selector until their
  whole request head has arrived, read without blocking by the selector thread (cheroot
  hands a connection to a worker at its first byte, which then sits in ``recv``); idle
  connections are expired there after ``timeout_s`` without holding a worker, and at most
  ``max_connections_per_address`` are open per client address.
- ``DeferredHandshakeAdapter``: cheroot performs the TLS handshake in its accept loop, with
  the full ``timeout_s``, so one connection that never sends a ClientHello stops every other
  client for that long. This adapter only wraps the socket; the handshake is driven by the
  head reader (or, without it, in the worker), under the header deadline.
- ``GuardedRequest``: a response sent before the request body was read to its end (any
  refusal decided from the head) closes the connection with ``Connection: close`` instead
  of draining the body first, as cheroot does (a trickled body held the worker; a 10 TB one
  exhausted memory); ``davserver.linger.Lingerer`` discards what still arrives for a moment
  so that the client reads the answer rather than a reset. ``Expect: 100-continue`` is
  answered when the application first reads the body, not at once; status lines with
  WsgiDAV's ``NNN Status`` placeholder get their real reason phrase.
- Chunked request bodies are read by ``davserver.chunked_body.BoundedChunkedBody`` instead
  of cheroot's ``ChunkedRFile``, which held a whole chunk (of any announced size) in memory.
- ``GuardedHeaderReader``: at most ``max_headers`` header fields (400 beyond); a repeated
  single-valued field that decides framing, routing or identity (``SINGLETONS``) is refused
  with 400 (request smuggling); obsolete line folding and malformed names are refused; header
  names containing ``_`` are dropped, as nginx does by default.

- The listen backlog is ``listen_backlog`` (cheroot's default is 5: a burst of new
  connections overflows it and some of them are reset after sending their request).

What is left to WSGI (``davserver.limits``): the request path policy, forwarded headers and
``Content-Length`` together with ``Transfer-Encoding``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any

from cheroot import errors
from cheroot.server import ChunkedRFile, HeaderReader, HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter

from davserver.chunked_body import BoundedChunkedBody
from davserver.head_reader import HeadReader, PrefetchReader
from davserver.http.reasons import status_line
from davserver.linger import Lingerer

_log = logging.getLogger(__name__)

CRLF = b"\r\n"
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

#: Fields that may appear once only: two of them would let two parsers disagree.
SINGLETONS = frozenset(
    {
        b"Content-Length",
        b"Host",
        b"Authorization",
        b"Destination",
        b"Overwrite",
        b"Depth",
        b"If",
        b"Lock-Token",
        b"Timeout",
        b"Content-Type",
        b"Content-Range",
        b"Range",
        b"X-Forwarded-Host",
        b"X-Forwarded-Proto",
    }
)
#: Fields cheroot joins with ", " when repeated (its ``comma_separated_headers``).
_LIST_FIELDS = frozenset(
    {
        b"Accept",
        b"Accept-Charset",
        b"Accept-Encoding",
        b"Accept-Language",
        b"Accept-Ranges",
        b"Allow",
        b"Cache-Control",
        b"Connection",
        b"Content-Encoding",
        b"Content-Language",
        b"Expect",
        b"If-Match",
        b"If-None-Match",
        b"Pragma",
        b"TE",
        b"Trailer",
        b"Transfer-Encoding",
        b"Upgrade",
        b"Via",
        b"Warning",
        b"X-Forwarded-For",
    }
)


class GuardedHeaderReader(HeaderReader):
    """cheroot's header reader with the limits of the module docstring.

    Raises ValueError (cheroot answers 400) for anything refused.
    """

    def __init__(self, max_headers: int) -> None:
        self.max_headers = max_headers

    def __call__(self, rfile: Any, hdict: dict[bytes, bytes] | None = None) -> dict[bytes, bytes]:
        if hdict is None:
            hdict = {}
        count = 0
        while True:
            line = rfile.readline()
            if not line:
                raise ValueError("Illegal end of headers.")
            if line == CRLF:
                return hdict
            if not line.endswith(CRLF):
                raise ValueError("HTTP requires CRLF terminators")
            if line[:1] in (b" ", b"\t"):
                raise ValueError("Obsolete line folding is not accepted.")
            name, sep, value = line.partition(b":")
            if not sep or not _TOKEN.fullmatch(name):
                raise ValueError("Illegal header line.")
            count += 1
            if count > self.max_headers:
                raise ValueError(f"More than {self.max_headers} header fields.")
            if b"_" in name:
                continue
            key = name.title()
            value = value.strip()
            if (
                key == b"Expect"
                and value.lower() == b"100-continue"
                and isinstance(hdict, _RequestHeaders)
            ):
                hdict.expect_continue = True  # answered when the body is read
                continue
            if key == b"Content-Length" and not (value.isdigit() and len(value) <= 20):
                raise ValueError("Malformed Content-Length Header.")
            if key in hdict:
                if key in SINGLETONS:
                    raise ValueError(f"Repeated {key.decode('ascii')} header.")
                if key in _LIST_FIELDS:
                    value = hdict[key] + b", " + value
            hdict[key] = value


class HeaderDeadlines:
    """A watchdog that shuts the sockets of requests whose headers are late."""

    def __init__(self, timeout_s: float, *, tick_s: float = 0.25) -> None:
        self.timeout_s = timeout_s
        self.tick_s = min(tick_s, timeout_s / 4)
        self._pending: dict[int, tuple[float, socket.socket]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def start(self) -> None:
        """Start the watchdog thread (idempotent)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="header-deadlines", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the watchdog thread."""
        self._stop.set()

    def begin(self, sock: socket.socket) -> int:
        """Register a request whose headers start arriving now; returns a ticket."""
        ticket = id(sock)
        with self._lock:
            self._pending[ticket] = (time.monotonic() + self.timeout_s, sock)
        return ticket

    def end(self, ticket: int) -> None:
        """The headers of the request with ``ticket`` are complete (or failed)."""
        with self._lock:
            self._pending.pop(ticket, None)

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            now = time.monotonic()
            with self._lock:
                late = [(t, s) for t, (due, s) in self._pending.items() if due <= now]
                for ticket, _ in late:
                    del self._pending[ticket]
            for _, sock in late:
                self.dropped += 1
                _log.warning("dropped a connection whose request headers were too slow")
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class DeferredHandshakeAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, with the handshake moved out of the accept loop."""

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, str]]:
        """Wrap ``sock`` without a handshake (``handshake`` completes it later)."""
        try:
            wrapped = self.context.wrap_socket(
                sock, do_handshake_on_connect=False, server_side=True
            )
        except OSError as exc:
            raise errors.FatalSSLAlert(*exc.args) from exc
        return wrapped, {"wsgi.url_scheme": "https", "HTTPS": "on"}

    def handshake(self, sock: ssl.SSLSocket) -> dict[str, Any]:
        """Complete the handshake; returns the TLS environ entries.

        Raises cheroot's NoSSLError (plain HTTP sent to the TLS port) or FatalSSLAlert, which
        cheroot's connection handling expects from ``wrap``.
        """
        try:
            sock.do_handshake()
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            raise errors.FatalSSLAlert(*exc.args) from exc
        except ssl.SSLError as exc:
            if exc.errno == ssl.SSL_ERROR_SSL and "http request" in str(exc.args).lower():
                raise errors.NoSSLError(*exc.args) from exc
            raise errors.FatalSSLAlert(*exc.args) from exc
        except OSError as exc:
            raise errors.FatalSSLAlert(*exc.args) from exc
        env: dict[str, Any] = self.get_environ(sock)  # type: ignore[no-untyped-call]
        return env


class _RequestHeaders(dict[bytes, bytes]):
    """``HTTPRequest.inheaders``, plus whether the client sent ``Expect: 100-continue``
    (which ``GuardedHeaderReader`` takes out, so cheroot does not answer it at once)."""

    expect_continue = False


class _ContinueOnFirstRead:
    """The connection's reader during one request: the first body read sends the deferred
    ``100 Continue`` (unless the final response has started: then the client need not send
    the body at all)."""

    def __init__(self, request: GuardedRequest, rfile: Any) -> None:
        self._request = request
        self._rfile = rfile
        self._pending = True

    def _continue(self) -> None:
        if self._pending:
            self._pending = False
            if not self._request.sent_headers:
                self._request.send_continue()

    def read(self, size: int = -1) -> bytes:
        self._continue()
        data: bytes = self._rfile.read(size)
        return data

    def readline(self, size: int = -1) -> bytes:
        self._continue()
        data: bytes = self._rfile.readline(size)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rfile, name)


class GuardedRequest(HTTPRequest):
    """An HTTPRequest whose head is read under a deadline, that answers ``Expect:
    100-continue`` only when the application reads the body, and that never drains a body
    it did not read: a response sent before the whole body was read closes the connection
    (with ``Connection: close``), through ``Lingerer`` when a linger is configured."""

    _body_reader: Any  # set by cheroot through ``rfile`` when the body is read

    def __init__(self, server: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, conn, *args, **kwargs)
        self.inheaders = _RequestHeaders()

    @property
    def rfile(self) -> Any:
        """The request body's reader; cheroot's ``ChunkedRFile`` is replaced by a
        ``BoundedChunkedBody`` when cheroot sets it (it held whole chunks in memory)."""
        return self._body_reader

    @rfile.setter
    def rfile(self, reader: Any) -> None:
        if isinstance(reader, ChunkedRFile):
            reader = BoundedChunkedBody(reader.rfile, reader.maxlen)
        self._body_reader = reader

    def parse_request(self) -> None:
        deadlines: HeaderDeadlines | None = getattr(self.server, "davsync_deadlines", None)
        ticket = None if deadlines is None else deadlines.begin(self.conn.socket)
        try:
            self._finish_handshake()
            super().parse_request()
        finally:
            if deadlines is not None and ticket is not None:
                deadlines.end(ticket)

    def _finish_handshake(self) -> None:
        conn = self.conn
        adapter = self.server.ssl_adapter
        if getattr(conn, "davsync_handshake_pending", False) and isinstance(
            adapter, DeferredHandshakeAdapter
        ):
            conn.davsync_handshake_pending = False
            conn.ssl_env = adapter.handshake(conn.socket)

    # --- body -----------------------------------------------------------------------------

    def respond(self) -> None:
        headers = self.inheaders
        if not (isinstance(headers, _RequestHeaders) and headers.expect_continue):
            super().respond()
            return
        conn_rfile = self.conn.rfile
        self.conn.rfile = _ContinueOnFirstRead(self, conn_rfile)
        try:
            super().respond()
        finally:
            self.conn.rfile = conn_rfile

    def send_continue(self) -> None:
        """Write ``100 Continue`` (the client waits for it before it sends the body)."""
        proto = self.server.protocol.encode("ascii")
        with contextlib.suppress(OSError):
            self.conn.wfile.write(proto + b" 100 Continue" + CRLF + CRLF)

    def body_unread(self) -> bool:
        """True if the request announced a body that has not been read to its end."""
        rfile = getattr(self, "rfile", None)
        if self.chunked_read:
            return not bool(getattr(rfile, "closed", True))
        return int(getattr(rfile, "remaining", 0) or 0) > 0

    def send_headers(self) -> None:
        if self.body_unread():
            # Answer now and close; never read (cheroot would drain it first: a trickled
            # body held the worker, a 10 TB one exhausted memory).
            self.close_connection = True
            self.conn.davsync_linger = True
        elif any(
            k.lower() == b"connection" and v.strip().lower() == b"close" for k, v in self.outheaders
        ):
            self.close_connection = True
        self.status = status_line(self.status)  # type: ignore[arg-type,assignment]
        super().send_headers()


class GuardedConnection(HTTPConnection):
    """An HTTPConnection that parses requests with ``GuardedRequest``, reads through a
    ``PrefetchReader`` (so ``HeadReader`` can read heads ahead of the worker) and lingers
    when it closes with a body unread."""

    RequestHandlerClass = GuardedRequest

    def __init__(self, server: Any, sock: Any, makefile: Any = None) -> None:
        if makefile is None:
            super().__init__(server, sock)
        else:
            super().__init__(server, sock, makefile)
        self.rfile = PrefetchReader(sock, self.rbufsize)
        self.davsync_new = True
        self.davsync_linger = False
        self.davsync_handshake_pending = isinstance(sock, ssl.SSLSocket) and isinstance(
            server.ssl_adapter, DeferredHandshakeAdapter
        )

    def close(self) -> None:
        head_reader: HeadReader | None = getattr(self.server, "davsync_head_reader", None)
        if head_reader is not None:
            head_reader.release(self)
        lingerer: Lingerer | None = getattr(self.server, "davsync_lingerer", None)
        if not (self.davsync_linger and lingerer is not None):
            super().close()
            return
        self.davsync_linger = False
        with contextlib.suppress(Exception):
            self.rfile.close()
        lingerer.hand_over(self.socket)


def harden(
    server: Any,
    *,
    max_headers: int,
    header_timeout_s: float,
    listen_backlog: int = 128,
    max_connections_per_address: int = 0,
    linger_s: float = 2.0,
    trusted_proxies: Sequence[str] = (),
) -> HeaderDeadlines:
    """Install the guards of the module docstring on a (not yet started) cheroot server.

    ``max_connections_per_address``: open connections per client address (0: no cap; never
    for ``trusted_proxies``);
    ``linger_s``: how long a connection closed with its body unread discards input first.
    """
    server.request_queue_size = max(int(server.request_queue_size or 0), listen_backlog)
    deadlines = HeaderDeadlines(header_timeout_s)
    request_cls = type(
        "ServerGuardedRequest",
        (GuardedRequest,),
        {"header_reader": GuardedHeaderReader(max_headers)},
    )
    server.davsync_deadlines = deadlines
    HeadReader(
        server,
        deadlines,
        max_head_bytes=int(server.max_request_header_size or 0) or 64 * 1024,
        max_per_address=max_connections_per_address,
        exempt=trusted_proxies,
    ).install()
    if linger_s > 0:
        server.davsync_lingerer = Lingerer(linger_s=linger_s)
        server.davsync_lingerer.start()
    server.ConnectionClass = type(
        "ServerGuardedConnection", (GuardedConnection,), {"RequestHandlerClass": request_cls}
    )
    deadlines.start()
    return deadlines
