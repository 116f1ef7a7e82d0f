"""XML bombs, external entities, deep nesting and oversized bodies, against the real server:
each is refused before WsgiDAV parses it, nothing is read from disk or the network, and the
server keeps answering."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hostile.conftest import client
from tests.support import rawhttp
from tests.support.configured import USERS
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

SECRET = "s3cret-marker-7f1c"
NS = 'xmlns:D="DAV:"'


def _bomb(levels: int) -> bytes:
    ents = ['<!ENTITY e0 "lollollollollollollollollollol">']
    ents += [f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, levels)]
    return (
        f'<?xml version="1.0"?><!DOCTYPE D:propfind [{"".join(ents)}]>'
        f"<D:propfind {NS}><D:prop><D:getetag>&e{levels - 1};</D:getetag></D:prop></D:propfind>"
    ).encode()


def _propfind(c: httpx.Client, url: str, body: bytes, depth: str = "0") -> httpx.Response:
    return c.request("PROPFIND", url, headers={"Depth": depth}, content=body)


@pytest.fixture()
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


def test_billion_laughs_refused_quickly(hostile: DavServer) -> None:
    with client("alice") as c:
        started = time.monotonic()
        r = _propfind(c, hostile.files_url("alice"), _bomb(9))
        assert r.status_code == 400
        assert time.monotonic() - started < 5
        assert _propfind(c, hostile.files_url("alice"), b"").status_code == 207


def test_external_entity_not_resolved(hostile: DavServer, secret_file: Path) -> None:
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file://{secret_file}">]>'
        f'<D:propertyupdate {NS} xmlns:Z="urn:z"><D:set><D:prop><Z:leak>&x;</Z:leak>'
        "</D:prop></D:set></D:propertyupdate>"
    ).encode()
    url = hostile.files_url("alice", "xxe.txt")
    with client("alice") as c:
        assert c.put(url, content=b"x").status_code in (201, 204)
        r = c.request("PROPPATCH", url, content=xxe)
        assert r.status_code == 400
        assert SECRET not in r.text
        found = _propfind(
            c,
            url,
            f'<D:propfind {NS} xmlns:Z="urn:z"><D:prop><Z:leak/></D:prop></D:propfind>'.encode(),
        )
        assert found.status_code == 207 and SECRET not in found.text


def test_external_dtd_not_fetched(hostile: DavServer) -> None:
    """A DOCTYPE naming a DTD on a local port: refused, and the port sees no connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        body = (
            f'<?xml version="1.0"?><!DOCTYPE D:propfind SYSTEM "http://127.0.0.1:{port}/x.dtd">'
            f"<D:propfind {NS}><D:allprop/></D:propfind>"
        ).encode()
        with client("alice") as c:
            assert _propfind(c, hostile.files_url("alice"), body).status_code == 400
        with pytest.raises(TimeoutError):
            listener.accept()


def test_nesting_limit_is_exact(hostile: DavServer) -> None:
    """max_xml_depth is 32: a body 32 elements deep passes, 33 is refused."""

    def nested(depth: int) -> bytes:
        inner = depth - 3  # propfind > prop > Z:deep > (a * inner)
        return (
            f'<D:propfind {NS} xmlns:Z="urn:z"><D:prop><Z:deep>'
            + "<a>" * inner
            + "</a>" * inner
            + "</Z:deep></D:prop></D:propfind>"
        ).encode()

    with client("alice") as c:
        assert _propfind(c, hostile.files_url("alice"), nested(32)).status_code == 207
        assert _propfind(c, hostile.files_url("alice"), nested(33)).status_code == 400


def test_oversized_body_refused_before_it_is_read(hostile: DavServer) -> None:
    """Content-Length over max_xml_body_bytes: 413 after the headers alone."""
    target = "/remote.php/dav/files/alice/"
    auth = rawhttp.digest(hostile.url, "alice", USERS["alice"], "PROPFIND", target)
    head = rawhttp.build(
        "PROPFIND",
        target,
        host=hostile.url.split("/")[2],
        headers=["Depth: 0", "Content-Length: 10000000"],
        auth=auth,
    )
    response = rawhttp.exchange(hostile.url, head, half_close=False, timeout=5)
    assert response.status == 413


def test_oversized_chunked_body_refused(hostile: DavServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield f"<D:propfind {NS}><D:prop>".encode()
        for _ in range(100):
            yield b"<D:getetag/>" * 100
        yield b"</D:prop></D:propfind>"

    with client("alice") as c:
        _propfind(c, hostile.files_url("alice"), b"")  # Digest challenge first: then preemptive
        r = c.request(
            "PROPFIND", hostile.files_url("alice"), headers={"Depth": "0"}, content=chunks()
        )
        assert r.status_code == 413


def test_chunked_propfind_body_is_honoured(hostile: DavServer) -> None:
    """WsgiDAV alone would ignore a chunked body and answer allprop; the guard buffers it."""

    def chunks() -> Iterator[bytes]:
        yield f"<D:propfind {NS}><D:prop>".encode()
        yield b"<D:resourcetype/></D:prop></D:propfind>"

    with client("alice") as c:
        _propfind(c, hostile.files_url("alice"), b"")  # Digest challenge first: then preemptive
        r = c.request(
            "PROPFIND", hostile.files_url("alice"), headers={"Depth": "0"}, content=chunks()
        )
        assert r.status_code == 207
        assert "resourcetype" in r.text and "getlastmodified" not in r.text


def test_entity_in_lock_owner_refused(hostile: DavServer) -> None:
    body = (
        f'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY o "owner">]><D:lockinfo {NS}>'
        "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
        "<D:owner>&o;</D:owner></D:lockinfo>"
    ).encode()
    with client("alice") as c:
        r = c.request("LOCK", hostile.files_url("alice", "owner.txt"), content=body)
        assert r.status_code == 400
