"""HTML form upload against a hostile client: malformed requests get a clear 4xx, never a
500, and store nothing (a real ``davserver serve``)."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.gateways.form_support import multipart
from tests.support.configured import USERS, start_server
from tests.support.rawhttp import basic, build
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

CONFIG = "auth: {basic_over_http: true, throttle: {max_failures: 50}}\n"
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = start_server(tmp_path_factory.mktemp("form-hostile"), CONFIG)
    yield server
    server.stop()


def _alice() -> httpx.Client:
    return httpx.Client(auth=("alice", USERS["alice"]), timeout=30)


def test_an_overlong_boundary_is_400_not_500(srv: DavServer) -> None:
    kind, body = multipart([("file", "long.txt", b"data")], boundary="b" * 1000)
    with _alice() as c:
        r = c.post(
            srv.files_url("alice", "lb/"), content=body, headers={"Content-Type": kind, **JSON}
        )
        assert r.status_code == 400, r.text
        assert "boundary" in r.json()["error"]
        assert c.get(srv.files_url("alice", "lb/long.txt")).status_code == 404
    assert not list(srv.root.rglob("form-*.part"))


def test_a_chunked_form_is_not_staged_into_the_disk_reserve(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A chunked POST announces no length, so only the staging itself can notice that the
    disk has no room above ``reserve_bytes``: it must stop reading at once (507), not stage
    the whole body into the reserve and only then let the PUT refuse it."""
    config = CONFIG + "reserve_bytes: 1000000000000000\n"
    server = start_server(tmp_path_factory.mktemp("form-reserve"), config)
    try:
        kind, body = multipart([("file", "fill.bin", b"\0" * (40 * 1024 * 1024))])
        parts = urlsplit(server.files_url("alice", "fill/"))
        head = build(
            "POST",
            parts.path,
            host=parts.netloc,
            auth=basic("alice", USERS["alice"]),
            headers=[
                f"Content-Type: {kind}",
                "Transfer-Encoding: chunked",
                "Accept: application/json",
            ],
        )
        sent, answer = _send_chunked(parts.hostname or "", parts.port or 0, head, body)
        assert answer.startswith(b"HTTP/1.1 507"), answer[:300]
        assert sent < len(body) // 2, f"the server read {sent} of {len(body)} bytes first"
        assert not list(server.root.rglob("form-*.part"))
    finally:
        server.stop()


def _send_chunked(host: str, port: int, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Send ``body`` in 64 KiB chunks until the server answers; (bytes sent, answer)."""
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head)
        sent = 0
        while sent < len(body):
            if select.select([sock], [], [], 0)[0]:
                break
            piece = body[sent : sent + 65536]
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:
                break
            sent += len(piece)
        else:
            sock.sendall(b"0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return sent, answer
