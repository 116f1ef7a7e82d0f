"""Interrupted uploads: a client that vanishes mid-body, a server SIGKILLed mid-PUT."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import PASSWORDS
from tests.support.server import DavServer, add_user

pytestmark = pytest.mark.integration

BASIC_CONFIG = "auth:\n  basic_over_http: true\n"


@pytest.fixture()
def basic_server(tmp_path: Path) -> Iterator[DavServer]:
    """A server that accepts Basic over loopback HTTP (so raw sockets can authenticate)."""
    root = tmp_path / "root"
    add_user(root, "alice", PASSWORDS["alice"])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(BASIC_CONFIG, encoding="utf-8")
    srv = DavServer(root, ["--config", str(cfg)]).start()
    yield srv
    srv.stop()


def _auth_header() -> str:
    token = base64.b64encode(f"alice:{PASSWORDS['alice']}".encode()).decode()
    return f"Basic {token}"


def _raw_put_start(url: str, length: int, first_part: bytes) -> socket.socket:
    u = urlsplit(url)
    assert u.hostname and u.port
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    head = (
        f"PUT {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: {_auth_header()}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode() + first_part)
    return sock


def _listing(client: httpx.Client, url: str) -> list[str]:
    r = client.request("PROPFIND", url, headers={"Depth": "1"})
    assert r.status_code == 207
    return sorted(r.text.split("<D:href>")[1:])


def test_client_vanishing_mid_body_keeps_old_version(basic_server: DavServer) -> None:
    url = basic_server.files_url("alice", "keep.bin")
    auth = ("alice", PASSWORDS["alice"])
    with httpx.Client(auth=auth) as c:
        assert c.put(url, content=b"A" * 100_000).status_code == 201
        before = _listing(c, basic_server.files_url("alice"))
        sock = _raw_put_start(url, 100_000, b"B" * 5_000)
        sock.close()  # the client dies with 95 000 bytes unsent
        time.sleep(0.5)
        assert c.get(url).content == b"A" * 100_000
        assert _listing(c, basic_server.files_url("alice")) == before


def test_server_killed_mid_put_keeps_old_version(basic_server: DavServer) -> None:
    url = basic_server.files_url("alice", "precious.bin")
    auth = ("alice", PASSWORDS["alice"])
    original = b"O" * 200_000
    with httpx.Client(auth=auth) as c:
        assert c.put(url, content=original).status_code == 201
    sock = _raw_put_start(url, 10_000_000, b"N" * 1_000_000)
    time.sleep(0.5)  # the server is now streaming the body into staging
    basic_server.kill()
    sock.close()
    root = basic_server.root
    assert (root / "files" / "alice" / "precious.bin").read_bytes() == original
    restarted = DavServer(root, basic_server.extra_args).start()
    try:
        with httpx.Client(auth=auth) as c:
            assert c.get(restarted.files_url("alice", "precious.bin")).content == original
            listing = _listing(c, restarted.files_url("alice"))
            assert not any("staging" in h or ".part" in h for h in listing)
    finally:
        restarted.stop()
    staging = [p for p in (root / ".davsync").rglob("*staging*/*") if not p.name.endswith(".owner")]
    assert staging == [], "staging files of the killed upload were not cleaned at start-up"
