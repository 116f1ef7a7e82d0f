"""Chunked request bodies from an authenticated client, read with bounded memory.

cheroot's own chunked reader held a whole chunk in memory before the application saw a byte
of it (one chunk announced as 200 MiB grew the server by 200 MB, and the 1 MB
``limits.max_put_bytes`` of the hostile server was checked only afterwards), read a
chunk-size line without a length limit (a line that never ends grew the server until the
client stopped) and left trailers unread, so that a trailer was parsed as the next request.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import rawhttp
from tests.support.configured import USERS
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

MB = 1024 * 1024
MAX_GROWTH_MB = 64
ANSWER_S = 5.0  # the refusal must come this soon after the bytes that decide it
AUTH = rawhttp.basic("alice", USERS["alice"])


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@contextmanager
def _peak_growth_mb(server: DavServer) -> Iterator[list[float]]:
    """Samples the server's resident memory while the block runs; the list receives the
    peak growth over the start, in MB."""
    assert server.proc is not None
    pid = server.proc.pid
    start = _rss_kb(pid)
    peak = start
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, _rss_kb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: list[float] = []
    try:
        yield out
    finally:
        stop.set()
        sampler.join(5)
        peak = max(peak, _rss_kb(pid))
        out.append((peak - start) / 1024)


def _connect(server: DavServer) -> socket.socket:
    u = urlsplit(server.url)
    return socket.create_connection((u.hostname or "", u.port or 0), timeout=10)


def _log_in(server: DavServer) -> None:
    """Verify alice's Basic credentials once (argon2), so timings are about the body."""
    with httpx.Client(auth=("alice", USERS["alice"]), timeout=30) as c:
        r = c.request("PROPFIND", server.files_url("alice"), headers={"Depth": "0"})
        assert r.status_code == 207


def _chunked_put(server: DavServer, name: str, extra: str = "") -> bytes:
    return (
        f"PUT /remote.php/dav/files/alice/{name} HTTP/1.1\r\n"
        f"Host: {urlsplit(server.url).netloc}\r\nAuthorization: {AUTH}\r\n"
        f"Transfer-Encoding: chunked\r\n{extra}\r\n"
    ).encode()


def _send_until_answered(sock: socket.socket, blocks: Iterator[bytes]) -> bytes:
    """Send ``blocks`` until the server answers or closes; then what it sent (b"" if
    nothing within ANSWER_S after the last block)."""
    sock.settimeout(ANSWER_S)
    for block in blocks:
        try:
            sock.sendall(block)
        except OSError:
            break
        if _answered(sock):
            break
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _answered(sock: socket.socket) -> bool:
    """True if the server has sent something (or closed) on ``sock``, without waiting."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


def test_a_huge_chunk_is_not_held_in_memory(hostile: DavServer) -> None:
    """One chunk announced as 200 MiB: 413 once max_put_bytes (1 MB) is passed, long before
    the chunk ends, and the server never holds the chunk."""
    _log_in(hostile)
    sock = _connect(hostile)
    block = b"c" * MB
    try:
        with _peak_growth_mb(hostile) as growth:
            sock.sendall(_chunked_put(hostile, "huge-chunk.bin") + b"%x\r\n" % (200 * MB))
            answer = _send_until_answered(sock, iter([block] * 200))
    finally:
        sock.close()
    assert rawhttp.parse(answer).status == 413, answer[:200]
    assert growth[0] < MAX_GROWTH_MB, f"the server grew by {growth[0]:.0f} MB"
    assert not (hostile.root / "files" / "alice" / "huge-chunk.bin").exists()


def test_an_endless_chunk_size_line_is_refused(hostile: DavServer) -> None:
    """A chunk-size line that never ends: 400 after a few KB, not a line held in memory."""
    _log_in(hostile)
    sock = _connect(hostile)
    try:
        with _peak_growth_mb(hostile) as growth:
            sock.sendall(_chunked_put(hostile, "endless-line.bin") + b"1")
            answer = _send_until_answered(sock, iter([b"0" * MB] * 96))
    finally:
        sock.close()
    assert rawhttp.parse(answer).status == 400, answer[:200]
    assert growth[0] < MAX_GROWTH_MB, f"the server grew by {growth[0]:.0f} MB"
    assert not (hostile.root / "files" / "alice" / "endless-line.bin").exists()


def test_too_many_trailers_are_refused(hostile: DavServer) -> None:
    _log_in(hostile)
    sock = _connect(hostile)
    try:
        sock.sendall(_chunked_put(hostile, "trailers.bin") + b"5\r\nhello\r\n0\r\n")
        answer = _send_until_answered(sock, iter([b"X-Trailer: y\r\n"] * 10_000))
    finally:
        sock.close()
    assert rawhttp.parse(answer).status == 400, answer[:200]
    assert not (hostile.root / "files" / "alice" / "trailers.bin").exists()


def test_chunked_upload_with_extensions_and_trailers_then_a_pipelined_request(
    hostile: DavServer,
) -> None:
    """Chunks of several sizes with chunk extensions and a trailer section are stored byte
    for byte, and the next request on the connection is answered as itself."""
    _log_in(hostile)
    content = bytes(range(256)) * 3000  # 768,000 bytes (under max_put_bytes)
    body = b""
    for start, size in ((0, 1), (1, 65_535), (65_536, 300_000), (365_536, 402_464)):
        body += b"%x;name=value\r\n" % size + content[start : start + size] + b"\r\n"
    body += b"0\r\nX-Checksum: sha1 none\r\nX-Other: 1\r\n\r\n"
    follow = (
        f"PROPFIND /remote.php/dav/files/alice/chunked.bin HTTP/1.1\r\n"
        f"Host: {urlsplit(hostile.url).netloc}\r\nAuthorization: {AUTH}\r\nDepth: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    sock = _connect(hostile)
    try:
        sock.sendall(_chunked_put(hostile, "chunked.bin") + body + follow)
        received = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (data := sock.recv(65536)):
            received += data
    finally:
        sock.close()
    first = rawhttp.parse(received)
    assert first.status in (201, 204), received[:300]
    second = rawhttp.parse(received[received.index(b"HTTP/1.1 ", 1) :])
    assert second.status == 207, received[:600]
    assert (hostile.root / "files" / "alice" / "chunked.bin").read_bytes() == content
