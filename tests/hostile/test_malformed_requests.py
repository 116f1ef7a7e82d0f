"""A corpus of malformed requests, sent with raw sockets: each gets a 4xx answer, never a 5xx
and never a dropped connection, and afterwards the server still serves and nothing was written
outside alice's home."""

from __future__ import annotations

import hashlib
import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.hostile.conftest import client
from tests.support import rawhttp
from tests.support.configured import USERS
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

H = "/remote.php/dav/files/alice/"
LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
)
PROPFIND = b'<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'

# (name, method, target, extra headers, body); the body gets a Content-Length unless a header
# sets one. Every request carries alice's Digest credentials unless it has its own Authorization.
CORPUS: list[tuple[str, str, str, list[str], bytes]] = [
    # --- paths -------------------------------------------------------------------------------
    ("encoded slash", "PUT", H + "a%2Fb", [], b"x"),
    ("encoded backslash", "PUT", H + "a%5Cb", [], b"x"),
    ("encoded slash in share", "GET", "/remote.php/dav/files%2Falice/", [], b""),
    ("dot-dot segment", "GET", H + "../bob/", [], b""),
    ("encoded dot-dot", "GET", H + "%2e%2e/bob/", [], b""),
    ("dot segment", "PUT", H + "./x", [], b"x"),
    ("encoded NUL", "PUT", H + "a%00b", [], b"x"),
    ("encoded control", "PUT", H + "a%07b", [], b"x"),
    ("invalid UTF-8", "PUT", H + "a%ff%fe", [], b"x"),
    ("overlong UTF-8", "PUT", H + "a%c0%afb", [], b"x"),
    ("encoded surrogate", "PUT", H + "a%ed%a0%80", [], b"x"),
    ("raw latin-1 byte", "PUT", H + "a\xe9", [], b"x"),
    ("malformed escape", "PUT", H + "a%zz", [], b"x"),
    ("truncated escape", "PUT", H + "a%4", [], b"x"),
    ("name of 256 bytes", "PUT", H + "n" * 256, [], b"x"),
    ("path over 4096 bytes", "PUT", H + ("d" * 200 + "/") * 21 + "f", [], b"x"),
    ("backslash in name", "PUT", H + "a\\b", [], b"x"),
    ("relative target", "GET", "remote.php/dav/files/alice/", [], b""),
    # --- WebDAV headers ---------------------------------------------------------------------
    ("Depth 7", "PROPFIND", H, ["Depth: 7"], b""),
    ("Depth empty", "PROPFIND", H, ["Depth: "], b""),
    ("Depth list", "PROPFIND", H, ["Depth: 0, 1"], b""),
    ("Depth on LOCK 1", "LOCK", H + "d1.txt", ["Depth: 1"], LOCKINFO),
    ("Overwrite X", "COPY", H + "seed.txt", [f"Destination: {H}c1.txt", "Overwrite: X"], b""),
    ("Overwrite empty", "COPY", H + "seed.txt", [f"Destination: {H}c2.txt", "Overwrite: "], b""),
    ("Destination garbage", "COPY", H + "seed.txt", ["Destination: ::::"], b""),
    ("Destination empty", "COPY", H + "seed.txt", ["Destination: "], b""),
    ("Destination relative", "COPY", H + "seed.txt", ["Destination: c3.txt"], b""),
    ("Destination ftp", "COPY", H + "seed.txt", [f"Destination: ftp://127.0.0.1{H}c4"], b""),
    ("Destination bad port", "COPY", H + "seed.txt", [f"Destination: http://h:99999{H}c"], b""),
    ("Destination NUL", "COPY", H + "seed.txt", [f"Destination: {H}a%00"], b""),
    ("Destination bad UTF-8", "COPY", H + "seed.txt", [f"Destination: {H}a%ff"], b""),
    ("Destination dot-dot", "COPY", H + "seed.txt", [f"Destination: {H}../bob/x"], b""),
    ("Destination %2F", "COPY", H + "seed.txt", [f"Destination: {H}a%2Fb"], b""),
    ("If unbalanced", "PUT", H + "seed.txt", ["If: ((((<"], b"x"),
    ("If unterminated", "PUT", H + "seed.txt", ['If: <http://x/> (["e"]'], b"x"),
    ("If empty list", "PUT", H + "seed.txt", ["If: ()"], b"x"),
    ("If bare word", "PUT", H + "seed.txt", ["If: hello"], b"x"),
    ("If etag unquoted", "PUT", H + "seed.txt", ["If: ([abc])"], b"x"),
    ("If mixed forms", "PUT", H + "seed.txt", ["If: (<a:b>) <http://x/> (<c:d>)"], b"x"),
    ("If too many", "PUT", H + "seed.txt", ["If: (" + "<a:b> " * 100 + ")"], b"x"),
    ("Timeout garbage", "LOCK", H + "t1.txt", ["Timeout: Second-abc"], LOCKINFO),
    ("Timeout huge", "LOCK", H + "t2.txt", ["Timeout: Second-" + "9" * 40], LOCKINFO),
    ("Timeout negative", "LOCK", H + "t3.txt", ["Timeout: Second--5"], LOCKINFO),
    ("Lock-Token bare", "UNLOCK", H + "seed.txt", ["Lock-Token: garbage"], b""),
    ("Lock-Token two", "UNLOCK", H + "seed.txt", ["Lock-Token: <a:b> <c:d>"], b""),
    ("Lock-Token missing", "UNLOCK", H + "seed.txt", [], b""),
    ("X-OC-Mtime nan", "PUT", H + "seed.txt", ["X-OC-Mtime: nan"], b"x"),
    ("X-OC-Mtime huge", "PUT", H + "seed.txt", ["X-OC-Mtime: 1e400"], b"x"),
    ("OC-Checksum short", "PUT", H + "seed.txt", ["OC-Checksum: SHA1:zz"], b"x"),
    ("PATCH unknown hash", "PATCH", H + "seed.txt", ["X-Recalculate-Hash: crc"], b""),
    ("PATCH without header", "PATCH", H + "seed.txt", [], b"x"),
    ("Content-Range on PUT", "PUT", H + "cr.txt", ["Content-Range: bytes 0-0/1"], b"x"),
    # --- XML bodies -------------------------------------------------------------------------
    ("XML unterminated", "PROPFIND", H, ["Depth: 0"], b"<D:propfind xmlns:D='DAV:'><D:prop>"),
    ("XML binary", "PROPFIND", H, ["Depth: 0"], b"\x00\x01\x02garbage"),
    ("XML wrong root", "PROPFIND", H, ["Depth: 0"], b"<x/>"),
    ("XML whitespace", "PROPFIND", H, ["Depth: 0"], b"   "),
    ("XML bad encoding", "PROPFIND", H, ["Depth: 0"], b'<?xml version="1.0" encoding="x"?><a/>'),
    ("XML undefined entity", "PROPPATCH", H + "seed.txt", [], b"<a>&x;</a>"),
    ("XML too deep", "PROPFIND", H, ["Depth: 0"], b"<a>" * 40 + b"</a>" * 40),
    ("XML too large", "PROPFIND", H, ["Depth: 0"], b"<a>" + b"<b/>" * 5000 + b"</a>"),
    (
        "LOCK unknown element",
        "LOCK",
        H + "l1.txt",
        [],
        b'<D:lockinfo xmlns:D="DAV:"><D:x/></D:lockinfo>',
    ),
    ("LOCK without scope", "LOCK", H + "l2.txt", [], b'<D:lockinfo xmlns:D="DAV:"/>'),
    ("PROPPATCH wrong root", "PROPPATCH", H + "seed.txt", [], PROPFIND),
    ("PROPPATCH empty", "PROPPATCH", H + "seed.txt", [], b""),
    ("MKCOL with body", "MKCOL", H + "mk1", ["Content-Type: text/xml"], b"<x/>"),
    ("GET with body", "GET", H + "seed.txt", [], b"body"),
    ("GET collection with body", "GET", H, [], b"body"),
    ("HEAD collection with body", "HEAD", H, [], b"body"),
    # --- framing ----------------------------------------------------------------------------
    ("Content-Length garbage", "PUT", H + "f1.txt", ["Content-Length: abc"], b"x"),
    ("Content-Length negative", "PROPFIND", H, ["Content-Length: -5", "Depth: 0"], b""),
    ("Content-Length plus sign", "PUT", H + "f2.txt", ["Content-Length: +1"], b"x"),
    ("Content-Length underscore", "PUT", H + "f3.txt", ["Content-Length: 1_0"], b"x"),
    (
        "Content-Length twice",
        "PUT",
        H + "f4.txt",
        ["Content-Length: 1", "Content-Length: 2"],
        b"xy",
    ),
    ("Content-Length too short", "PROPFIND", H, ["Depth: 0", "Content-Length: 100"], b"<a/>"),
    (
        "Content-Length with chunked",
        "PUT",
        H + "f5.txt",
        ["Transfer-Encoding: chunked", "Content-Length: 5"],
        b"5\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "chunk size garbage",
        "PUT",
        H + "f6.txt",
        ["Transfer-Encoding: chunked"],
        b"zz\r\nhello\r\n0\r\n\r\n",
    ),
    (
        "chunk without CRLF",
        "PUT",
        H + "f7.txt",
        ["Transfer-Encoding: chunked"],
        b"5\r\nhelloXX0\r\n\r\n",
    ),
    (
        "chunked XML garbage",
        "PROPFIND",
        H,
        ["Depth: 0", "Transfer-Encoding: chunked"],
        b"zz\r\n<a/>\r\n0\r\n\r\n",
    ),
    ("Host twice", "GET", H + "seed.txt", ["Host: other"], b""),
    ("obsolete line folding", "GET", H + "seed.txt", ["X-A: 1", " folded"], b""),
    ("header without colon", "GET", H + "seed.txt", ["NoColonHere"], b""),
    ("header name with space", "GET", H + "seed.txt", ["Bad Name: 1"], b""),
    ("too many headers", "GET", H + "seed.txt", [f"X-H{i}: v" for i in range(60)], b""),
    ("header too large", "GET", H + "seed.txt", ["X-Big: " + "a" * 70000], b""),
    ("lower-case method", "get", H + "seed.txt", [], b""),
    ("unknown method", "FOOBAR", H, [], b""),
    ("control char method", "G\x01T", H, [], b""),
    # --- credentials ------------------------------------------------------------------------
    ("Basic not base64", "GET", H, ["Authorization: Basic !!!!"], b""),
    ("Basic no colon", "GET", H, ["Authorization: Basic " + "YWxpY2U="], b""),
    ("Digest garbage", "GET", H, ["Authorization: Digest garbage=="], b""),
    ("Digest unterminated quote", "GET", H, ['Authorization: Digest username="alice'], b""),
    ("unknown scheme", "GET", H, ["Authorization: Bearer x"], b""),
]

RAW_CORPUS: list[tuple[str, bytes]] = [
    ("HTTP/0.9 request", b"GET /\r\n\r\n"),
    ("no Host on HTTP/1.1", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
    ("absolute-form target", b"GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bare LF line ends", b"GET / HTTP/1.1\nHost: x\n\n"),
    ("request line too long", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("garbage bytes", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40),
    ("missing version", b"GET /\r\nHost: x\r\n\r\n"),
    ("space in target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
]


@pytest.fixture(scope="module")
def seeded(hostile: DavServer) -> DavServer:
    with client("alice") as c:
        assert c.put(hostile.files_url("alice", "seed.txt"), content=b"seed").status_code in (
            201,
            204,
        )
    return hostile


def _auth(url: str, method: str, target: str, headers: list[str]) -> str | None:
    """Digest credentials of alice for the request, unless it brings its own."""
    if any(h.lower().startswith("authorization:") for h in headers):
        return None
    return rawhttp.digest(url, "alice", USERS["alice"], method, target)


def _send(
    seeded: DavServer, method: str, target: str, headers: list[str], body: bytes
) -> rawhttp.RawResponse:
    """Send one corpus request (with alice's Digest credentials unless it has its own)."""
    request = rawhttp.build(
        method,
        target,
        host=urlsplit(seeded.url).netloc,
        headers=headers,
        body=body,
        auth=_auth(seeded.url, method, target, headers),
    )
    return rawhttp.exchange(seeded.url, request)


@pytest.mark.parametrize(
    ("name", "method", "target", "headers", "body"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_malformed_request_gets_4xx(
    seeded: DavServer, name: str, method: str, target: str, headers: list[str], body: bytes
) -> None:
    response = _send(seeded, method, target, headers, body)
    assert not response.dropped, f"{name}: connection dropped without an answer"
    assert 400 <= response.status < 500, f"{name}: {response.status} {response.body[:300]!r}"


@pytest.mark.parametrize(("name", "request_bytes"), RAW_CORPUS, ids=[c[0] for c in RAW_CORPUS])
def test_malformed_request_line_gets_4xx(
    seeded: DavServer, name: str, request_bytes: bytes
) -> None:
    response = rawhttp.exchange(seeded.url, request_bytes)
    assert not response.dropped, f"{name}: connection dropped without an answer"
    assert 400 <= response.status < 500, f"{name}: {response.status} {response.body[:300]!r}"


def test_server_healthy_and_nothing_written_outside_alices_home(seeded: DavServer) -> None:
    """After the whole corpus (sent here, so the test does not depend on running after the
    tests above): the server answers, and the tree is clean."""
    for _name, method, target, headers, body in CORPUS:
        _send(seeded, method, target, headers, body)
    for _name, request_bytes in RAW_CORPUS:
        rawhttp.exchange(seeded.url, request_bytes)
    with client("alice") as c:
        r = c.get(seeded.files_url("alice", "seed.txt"))
        assert r.status_code == 200 and r.content == b"seed"
        assert (
            c.request("PROPFIND", seeded.files_url("alice"), headers={"Depth": "1"}).status_code
            == 207
        )
    root = seeded.root
    assert {p.name for p in root.parent.iterdir()} == {"root", "config.yaml"}
    assert {p.name for p in root.iterdir()} == {"files", ".davsync"}
    assert {p.name for p in (root / "files").iterdir()} == set(USERS)
    names = {p.name for p in (seeded.root / "files" / "alice").rglob("*")}
    assert not any("\x00" in n or "/" in n or "\\" in n or "%2F" in n.upper() for n in names)
    assert (
        hashlib.sha256((seeded.root / "files" / "alice" / "seed.txt").read_bytes()).hexdigest()
        == hashlib.sha256(b"seed").hexdigest()
    )


def test_head_error_carries_no_body_on_a_kept_alive_connection(seeded: DavServer) -> None:
    """HEAD answered with an error page, then GET on the same connection: the GET's answer
    must be the next thing on the wire (WsgiDAV sends error bodies for HEAD too)."""
    u = urlsplit(seeded.url)
    target = "/remote.php/dav/files/bob/nope"
    with socket.create_connection((u.hostname or "", u.port or 0), timeout=10) as sock:
        for method in ("HEAD", "GET"):
            auth = rawhttp.digest(seeded.url, "alice", USERS["alice"], method, target)
            head = f"{method} {target} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: {auth}"
            sock.sendall(head.encode() + b"\r\n\r\n")
        time.sleep(0.5)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 403")
    assert rest.startswith(b"HTTP/1.1 403"), rest[:80]
