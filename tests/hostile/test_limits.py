"""Bounded resources on the real server: PROPFIND depth, lock timeouts and counts, request
headers, request bodies and requests per user."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.conftest import client
from tests.support import rawhttp
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
)
FINITE_DEPTH = "propfind-finite-depth"


def _tree(c: httpx.Client, base: str, files: int) -> None:
    assert c.request("MKCOL", base).status_code == 201
    assert c.request("MKCOL", base + "sub/").status_code == 201
    for i in range(files):
        assert c.put(f"{base}sub/f{i}.txt", content=b"x").status_code == 201


# --- PROPFIND Depth: infinity ------------------------------------------------------------------


def test_propfind_infinity_refused_with_precondition(hostile: DavServer) -> None:
    base = hostile.files_url("alice", "inf-tree/")
    with client("alice") as c:
        _tree(c, base, 3)
        for headers in ({"Depth": "infinity"}, {"Depth": "Infinity"}, {}):
            r = c.request("PROPFIND", base, headers=headers)
            assert r.status_code == 403, headers
            assert FINITE_DEPTH in r.text
        assert c.request("PROPFIND", base, headers={"Depth": "1"}).status_code == 207
        file_url = base + "sub/f0.txt"
        assert c.request("PROPFIND", file_url).status_code == 207  # no Depth on a file: fine


@pytest.fixture(scope="module")
def infinity_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    config = "limits: {propfind_infinity: true, max_propfind_results: 6}\n"
    srv = start_server(tmp_path_factory.mktemp("infinity"), config, {"alice": USERS["alice"]})
    yield srv
    srv.stop()


def test_propfind_infinity_when_enabled_is_capped(infinity_server: DavServer) -> None:
    small = infinity_server.files_url("alice", "small/")
    large = infinity_server.files_url("alice", "large/")
    with client("alice") as c:
        _tree(c, small, 3)  # sub + 3 files = 4 resources below
        _tree(c, large, 6)  # sub + 6 files = 7 resources below
        r = c.request("PROPFIND", small, headers={"Depth": "infinity"})
        assert r.status_code == 207
        assert r.text.count("</D:response>") == 5
        r = c.request("PROPFIND", large, headers={"Depth": "infinity"})
        assert r.status_code == 403 and FINITE_DEPTH in r.text


# --- locks -------------------------------------------------------------------------------------


def _lock(c: httpx.Client, url: str, timeout: str) -> httpx.Response:
    return c.request("LOCK", url, headers={"Timeout": timeout}, content=LOCKINFO)


def _unlock(c: httpx.Client, url: str, r: httpx.Response) -> None:
    assert (
        c.request("UNLOCK", url, headers={"Lock-Token": r.headers["Lock-Token"]}).status_code == 204
    )


@pytest.mark.parametrize("asked", ["Second-99999999", "Infinite", "Infinite, Second-4100000000"])
def test_lock_timeout_is_clamped(hostile: DavServer, asked: str) -> None:
    url = hostile.files_url("bob", f"clamp-{len(asked)}.txt")
    with client("bob") as c:
        r = _lock(c, url, asked)
        assert r.status_code in (200, 201)
        granted = re.search(r"<D:timeout>Second-(\d+)</D:timeout>", r.text)
        assert granted is not None and 0 < int(granted.group(1)) <= 600
        _unlock(c, url, r)


def test_lock_count_per_user_is_capped(hostile: DavServer) -> None:
    with client("carol") as c:
        urls = [hostile.files_url("carol", f"many-{i}.txt") for i in range(6)]
        granted = [_lock(c, u, "Second-60") for u in urls[:5]]
        assert all(r.status_code in (200, 201) for r in granted)
        assert _lock(c, urls[5], "Second-60").status_code == 507
        for url, r in zip(urls, granted, strict=False):
            _unlock(c, url, r)
        assert _lock(c, urls[5], "Second-60").status_code in (200, 201)


# --- headers and bodies ------------------------------------------------------------------------


def test_header_count_limit_is_exact(hostile: DavServer) -> None:
    """max_request_headers is 50: Host, Connection, Authorization and 47 more pass; 51 fail."""
    host = urlsplit(hostile.url).netloc
    target = "/remote.php/dav/files/alice/"
    for extra, expected in ((47, 207), (48, 400)):
        auth = rawhttp.digest(hostile.url, "alice", USERS["alice"], "PROPFIND", target)
        headers = ["Depth: 0"] + [f"X-N{i}: v" for i in range(extra - 1)]
        r = rawhttp.exchange(
            hostile.url, rawhttp.build("PROPFIND", target, host=host, headers=headers, auth=auth)
        )
        assert r.status == expected, extra


def test_put_over_max_put_bytes(hostile: DavServer) -> None:
    url = hostile.files_url("alice", "big.bin")
    with client("alice") as c:
        assert c.put(url, content=b"small").status_code in (201, 204)
        assert c.put(url, content=b"x" * 1_000_001).status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(20):
                yield b"y" * 100_000

        assert c.put(url, content=chunks()).status_code == 413
        assert c.get(url).content == b"small"
    staging = [p for p in (hostile.root / ".davsync").rglob("*.part")]
    assert staging == []


# --- requests per user -------------------------------------------------------------------------


def _open_slow_put(server: DavServer, user: str, name: str) -> socket.socket:
    u = urlsplit(server.url)
    target = f"/remote.php/dav/files/{user}/{name}"
    auth = rawhttp.digest(server.url, user, USERS[user], "PUT", target)
    sock = socket.create_connection((u.hostname or "", u.port or 0), timeout=10)
    head = rawhttp.build("PUT", target, host=u.netloc, headers=["Content-Length: 1000"], auth=auth)
    sock.sendall(head + b"z" * 10)
    return sock


def test_requests_per_user_are_capped(hostile: DavServer) -> None:
    """max_requests_per_user is 4: while alice has 4 uploads running, her 5th request gets
    429 with Retry-After, and bob is served; when they finish she is served again."""
    socks = [_open_slow_put(hostile, "alice", f"slow-{i}.bin") for i in range(4)]
    try:
        time.sleep(0.5)  # the four requests are now inside the server
        with client("alice") as a, client("bob") as b:
            r = a.request("PROPFIND", hostile.files_url("alice"), headers={"Depth": "0"})
            assert r.status_code == 429 and r.headers["Retry-After"] == "1"
            assert (
                b.request("PROPFIND", hostile.files_url("bob"), headers={"Depth": "0"}).status_code
                == 207
            )
            for sock in socks:
                sock.sendall(b"z" * 990)
            for sock in socks:
                assert rawhttp.parse(sock.recv(65536)).status in (201, 204)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                r = a.request("PROPFIND", hostile.files_url("alice"), headers={"Depth": "0"})
                if r.status_code == 207:
                    break
                time.sleep(0.1)
            assert r.status_code == 207
    finally:
        for sock in socks:
            sock.close()


def test_slots_released_after_failed_requests(hostile: DavServer) -> None:
    """Errors, aborted bodies and refusals all give the slot back."""
    with client("alice") as c:
        for _ in range(10):
            assert (
                c.request(
                    "PROPFIND", hostile.files_url("alice"), headers={"Depth": "7"}
                ).status_code
                == 400
            )
            assert c.get(hostile.files_url("alice", "missing.txt")).status_code == 404
        for i in range(6):
            sock = _open_slow_put(hostile, "alice", f"aborted-{i}.bin")
            sock.close()
        time.sleep(0.5)
        results: list[int] = []

        def probe() -> None:
            with client("alice") as own:
                results.append(
                    own.request(
                        "PROPFIND", hostile.files_url("alice"), headers={"Depth": "0"}
                    ).status_code
                )

        threads = [threading.Thread(target=probe) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [207, 207, 207]


def test_nothing_left_behind(hostile: DavServer) -> None:
    files = [
        p
        for p in Path(hostile.root, "files").rglob("*")
        if p.name.startswith(("slow-", "aborted-"))
    ]
    assert all(p.stat().st_size == 1000 for p in files if p.name.startswith("slow-"))
    assert not any(p.name.startswith("aborted-") for p in files)
