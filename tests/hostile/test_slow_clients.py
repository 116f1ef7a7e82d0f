"""Slow clients cannot starve others: slowloris headers are cut at header_timeout_s (2 s
here), idle connections wait outside the worker pool, an unauthenticated body is never read,
and a stalled upload is dropped after timeout_s (3 s) without touching the stored file."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.conftest import client
from tests.support import rawhttp
from tests.support.configured import USERS
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

WORKERS = 8  # server.threads of the hostile server
HEADER_TIMEOUT_S = 2.0


def _connect(server: DavServer) -> socket.socket:
    u = urlsplit(server.url)
    return socket.create_connection((u.hostname or "", u.port or 0), timeout=10)


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True if the server closes ``sock`` (EOF or reset) within ``within_s``."""
    sock.settimeout(within_s)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


class Slowloris:
    """``count`` connections that send one more header line every ``interval_s``."""

    def __init__(self, server: DavServer, count: int, interval_s: float = 0.3) -> None:
        self.socks = [_connect(server) for _ in range(count)]
        self.interval_s = interval_s
        self.cut: set[int] = set()
        self._stop = threading.Event()
        host = urlsplit(server.url).netloc
        for sock in self.socks:
            sock.sendall(f"GET /remote.php/dav/ HTTP/1.1\r\nHost: {host}\r\n".encode())
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        n = 0
        while not self._stop.wait(self.interval_s) and n < 200:
            n += 1
            for i, sock in enumerate(self.socks):
                if i in self.cut:
                    continue
                try:
                    sock.sendall(f"X-Slow-{n}: x\r\n".encode())
                except OSError:
                    self.cut.add(i)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.socks:
            sock.close()


def test_slowloris_is_dropped_and_others_are_served(hostile: DavServer) -> None:
    attack = Slowloris(hostile, WORKERS + 4)
    try:
        time.sleep(0.5)  # every worker is now reading somebody's endless headers
        started = time.monotonic()
        with client("bob") as c:
            r = c.request("PROPFIND", hostile.files_url("bob"), headers={"Depth": "0"})
        waited = time.monotonic() - started
        assert r.status_code == 207
        assert waited < HEADER_TIMEOUT_S + 3, f"a normal request waited {waited:.1f}s"
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 3
        while len(attack.cut) < len(attack.socks) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(attack.cut) == len(attack.socks), "slowloris connections still open"
    finally:
        attack.close()


def test_idle_connections_do_not_hold_workers(hostile: DavServer) -> None:
    idle = [_connect(hostile) for _ in range(WORKERS * 3)]
    try:
        started = time.monotonic()
        with client("bob") as c:
            r = c.request("PROPFIND", hostile.files_url("bob"), headers={"Depth": "0"})
        assert r.status_code == 207
        assert time.monotonic() - started < 2
        assert _closed_by_server(idle[0], within_s=3 + 3)  # expired after timeout_s
    finally:
        for sock in idle:
            sock.close()


def test_unauthenticated_body_is_not_read(hostile: DavServer) -> None:
    """A PUT announcing 100 MB without credentials is answered 401 after its headers, and
    the connection is closed instead of waiting for (or draining) the body."""
    sock = _connect(hostile)
    try:
        host = urlsplit(hostile.url).netloc
        head = rawhttp.build(
            "PUT",
            "/remote.php/dav/files/alice/trickle.bin",
            host=host,
            headers=["Content-Length: 100000000"],
        )
        sock.sendall(head + b"t" * 1000)
        sock.settimeout(5)
        response = rawhttp.parse(sock.recv(65536))
        assert response.status == 401
        assert _closed_by_server(sock, within_s=3)
    finally:
        sock.close()
    assert not (hostile.root / "files" / "alice" / "trickle.bin").exists()


def test_stalled_upload_dropped_old_version_kept(hostile: DavServer) -> None:
    url = hostile.files_url("alice", "stalled.bin")
    with client("alice") as c:
        assert c.put(url, content=b"old" * 1000).status_code in (201, 204)
    sock = _connect(hostile)
    try:
        target = "/remote.php/dav/files/alice/stalled.bin"
        auth = rawhttp.digest(hostile.url, "alice", USERS["alice"], "PUT", target)
        head = rawhttp.build(
            "PUT",
            target,
            host=urlsplit(hostile.url).netloc,
            headers=["Content-Length: 500000"],
            auth=auth,
        )
        sock.sendall(head + b"n" * 100_000)
        with client("bob") as b:  # served while the upload stalls
            assert (
                b.request("PROPFIND", hostile.files_url("bob"), headers={"Depth": "0"}).status_code
                == 207
            )
        assert _closed_by_server(sock, within_s=3 + 4)
    finally:
        sock.close()
    with client("alice") as c:
        assert c.get(url).content == b"old" * 1000
    time.sleep(0.2)
    assert list((hostile.root / ".davsync").rglob("*.part")) == []


def test_stalled_tls_handshake_does_not_block_others(tls_server: DavServer, ca_file: Path) -> None:
    """A TCP connection to the TLS port that never sends a ClientHello: other TLS clients are
    served at once (cheroot alone would wait timeout_s for it in its accept loop)."""
    stalled = [_connect(tls_server) for _ in range(3)]
    try:
        time.sleep(0.3)
        started = time.monotonic()
        with httpx.Client(verify=str(ca_file), timeout=30) as c:
            r = c.request("PROPFIND", tls_server.files_url("alice"), headers={"Depth": "0"})
        assert r.status_code == 401
        assert time.monotonic() - started < 2
    finally:
        for sock in stalled:
            sock.close()


def test_connection_burst_is_answered(hostile: DavServer) -> None:
    """100 clients connect at the same instant (cheroot's own listen backlog is 5, which
    resets some of them after they sent their request)."""
    host = urlsplit(hostile.url).netloc
    request = rawhttp.build("OPTIONS", "/remote.php/dav/", host=host)
    barrier = threading.Barrier(100)
    statuses: list[int] = []

    def one() -> None:
        barrier.wait(30)
        statuses.append(rawhttp.exchange(hostile.url, request, timeout=30).status)

    threads = [threading.Thread(target=one) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(statuses) == 100
    assert 0 not in statuses, f"{statuses.count(0)} connections dropped"
