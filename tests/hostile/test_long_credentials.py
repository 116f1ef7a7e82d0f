"""Failed logins that claim very long user names cost the state database and the log a fixed
size each.

The failed-login throttle stores the claimed name (per account, and per account and address)
for ``auth.throttle.window_s``. A Digest failure needs no password check, and a name of
40 KB fits in a request head: 600 such failures grew the state database by 100 MB in
7.5 s, so a spray from many addresses could fill the disk. Names longer than any account's
are now stored as their SHA-256. Each such failure also wrote two log lines of 40 KB
(WsgiDAV's and the access log's); no logged message is longer than 2000 characters now.
"""

from __future__ import annotations

import base64
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.server import DavServer

pytestmark = pytest.mark.integration

FAILURES = 150
NAME_BYTES = 40_000
MAX_GROWTH_BYTES = 8_000_000  # unbounded: about 25 MB for these 150 failures
MAX_LOG_LINE = 2500  # MAX_MESSAGE_CHARS, the time, level and the note of the cut


def _state_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / ".davsync").glob("state.sqlite*"))


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send ``request`` and read one response (its head and a Content-Length body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"\r\nContent-Length: (\d+)", head)
    while length is not None and len(body) < int(length.group(1)):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head


def test_failed_logins_with_long_names_do_not_grow_the_state(hostile: DavServer) -> None:
    u = urlsplit(hostile.url)
    path = "/remote.php/dav/files/alice/"
    probe = f"PROPFIND {path} HTTP/1.1\r\nHost: {u.netloc}\r\nDepth: 0\r\n\r\n".encode()
    before = _state_bytes(hostile.root)
    statuses = set()
    with socket.create_connection((u.hostname or "", u.port or 0), timeout=30) as sock:
        challenge = _exchange(sock, probe).decode("latin-1")
        match = re.search(r'nonce="([^"]+)"', challenge)
        assert match is not None, challenge
        nonce = match.group(1)
        for i in range(FAILURES):
            name = f"{i}-" + "n" * NAME_BYTES
            auth = (
                f'Digest username="{name}", realm="davsync", nonce="{nonce}", uri="{path}", '
                f'algorithm=MD5, qop=auth, nc={i + 1:08x}, cnonce="c", response="{"0" * 32}"'
            )
            head = _exchange(
                sock,
                f"PROPFIND {path} HTTP/1.1\r\nHost: {u.netloc}\r\nDepth: 0\r\n"
                f"Authorization: {auth}\r\n\r\n".encode(),
            )
            statuses.add(head[9:12])
    assert statuses == {b"401"}
    growth = _state_bytes(hostile.root) - before
    assert growth < MAX_GROWTH_BYTES, f"the state database grew by {growth / 1e6:.1f} MB"


def test_log_lines_stay_short(hostile: DavServer) -> None:
    """Failed Basic logins with 40 KB names, and a request with a 30 KB path: every line the
    server logs is short."""
    u = urlsplit(hostile.url)
    long_path = "/remote.php/dav/files/alice/" + "p" * 30_000
    with socket.create_connection((u.hostname or "", u.port or 0), timeout=30) as sock:
        for i in range(5):
            token = base64.b64encode(f"{i}-{'n' * NAME_BYTES}:wrong".encode()).decode()
            head = _exchange(
                sock,
                f"PROPFIND /remote.php/dav/files/alice/ HTTP/1.1\r\nHost: {u.netloc}\r\n"
                f"Depth: 0\r\nAuthorization: Basic {token}\r\n\r\n".encode(),
            )
            assert head[9:12] == b"401"
        head = _exchange(sock, f"GET {long_path} HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode())
        assert head[9:12] == b"401"
    time.sleep(1)  # the server's output is read by a thread
    longest = max(len(line) for line in hostile.output)
    assert longest < MAX_LOG_LINE, f"a log line of {longest} characters"
