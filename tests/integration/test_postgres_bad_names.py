"""Names and data PostgreSQL text cannot hold (NUL, lone surrogates, bytes that are not UTF-8)
are refused with a 4xx by a PostgreSQL-backed server, never a 500 and never an ERROR in its
log: in the path of PUT, MKCOL, PROPFIND, LOCK, PROPPATCH, MOVE and COPY (and the Destination
of the last two), in a dead property's name or value, in tus and form upload file names, in
chunked upload sessions, in Basic and Digest login names, and in lock tokens (``If``,
``Lock-Token``)."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>me</D:owner></D:lockinfo>"
)
CONFIG = "auth: {basic_over_http: true}\ngateways: {form: {max_parts: 20}}\n"
BAD_SEGMENTS = ["a%00b", "%00", "x%ED%A0%80y", "%FF%FE"]  # NUL, a UTF-8 surrogate, not UTF-8


def proppatch(prop: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
        b'xmlns:Z="urn:z"><D:set><D:prop>' + prop + b"</D:prop></D:set></D:propertyupdate>"
    )


@pytest.fixture
def node(tmp_path: Path, postgres_url: str) -> Iterator[DavServer]:
    server = start_server(tmp_path, f"state: {postgres_url}\n{CONFIG}")
    yield server
    server.stop()


def _answers(node: DavServer) -> dict[str, int]:
    codes: dict[str, int] = {}
    basic = httpx.BasicAuth("alice", USERS["alice"])
    with httpx.Client(auth=basic, timeout=30) as client:
        assert client.put(node.files_url("alice", "good.txt"), content=b"ok").status_code == 201
        good = node.files_url("alice", "good.txt")
        for seg in BAD_SEGMENTS:
            url = node.files_url("alice", seg)
            codes[f"PUT {seg}"] = client.put(url, content=b"x").status_code
            codes[f"MKCOL {seg}"] = client.request("MKCOL", url).status_code
            codes[f"PROPFIND {seg}"] = client.request(
                "PROPFIND", url, headers={"Depth": "0"}
            ).status_code
            codes[f"LOCK {seg}"] = client.request(
                "LOCK", url, content=LOCKINFO, headers={"Depth": "0"}
            ).status_code
            codes[f"PROPPATCH {seg}"] = client.request(
                "PROPPATCH", url, content=proppatch(b"<Z:c>v</Z:c>")
            ).status_code
            for method in ("MOVE", "COPY"):
                codes[f"{method} to {seg}"] = client.request(
                    method, good, headers={"Destination": url}
                ).status_code
        bodies = {
            "value NUL": b"<Z:c>a\x00b</Z:c>",
            "value &#0;": b"<Z:c>a&#0;b</Z:c>",
            "value surrogate": b"<Z:c>a\xed\xa0\x80b</Z:c>",
            "value &#xD800;": b"<Z:c>a&#xD800;b</Z:c>",
            "name NUL": b"<Z:c\x00d>v</Z:c\x00d>",
            "namespace NUL": b'<Y:c xmlns:Y="urn:\x00">v</Y:c>',
        }
        for label, prop in bodies.items():
            codes[f"PROPPATCH {label}"] = client.request(
                "PROPPATCH", good, content=proppatch(prop)
            ).status_code
        codes.update(_uploads(node, client))
    codes.update(_raw_headers(node))
    for name in ("al\x00ice", "\x00", "al\udcffice"):
        token = base64.b64encode(
            f"{name}:{USERS['alice']}".encode("utf-8", "surrogateescape")
        ).decode()
        response = httpx.get(
            node.files_url("alice", "good.txt"), headers={"Authorization": f"Basic {token}"}
        )
        codes[f"Basic login {name!r}"] = response.status_code
    return codes


def _uploads(node: DavServer, client: httpx.Client) -> dict[str, int]:
    codes: dict[str, int] = {}
    folder = node.files_url("alice", "")
    for label, name in (("NUL", "a\x00b"), ("surrogate", "a\udcffb")):
        raw = name.encode("utf-8", "surrogateescape")
        tus = client.post(
            folder,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": "2",
                "Upload-Metadata": "filename " + base64.b64encode(raw).decode(),
            },
        )
        codes[f"tus create {label}"] = tus.status_code
        if tus.status_code == 201:
            codes[f"tus patch {label}"] = client.patch(
                tus.headers["location"],
                content=b"ab",
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                },
            ).status_code
        boundary = "b0123456789"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
            + raw
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\nab\r\n'
            + f"--{boundary}--\r\n".encode()
        )
        codes[f"form {label}"] = client.post(
            folder,
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        ).status_code
    uploads = f"{node.url}remote.php/dav/uploads/alice/"
    codes["MKCOL upload session %00"] = client.request("MKCOL", uploads + "s%00").status_code
    assert client.request("MKCOL", uploads + "sess").status_code == 201
    codes["PUT chunk %00"] = client.put(uploads + "sess/1%00", content=b"x").status_code
    for alias in ("remote.php/webdav/a%00b", "webdav/a%00b"):
        codes[f"PUT {alias}"] = client.put(node.url + alias, content=b"x").status_code
    return codes


def _raw_status(node: DavServer, headers: bytes, method: bytes = b"GET") -> int:
    """The status of a GET sent on a plain socket (httpx refuses NUL in header values)."""
    host, port = node.url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            method
            + b" /remote.php/dav/files/alice/good.txt HTTP/1.1\r\nHost: x\r\n"
            + headers
            + b"Connection: close\r\n\r\n"
        )
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1]) if reply else 0


def _raw_headers(node: DavServer) -> dict[str, int]:
    digest = (
        b'Authorization: Digest username="%s", realm="davsync", nonce="%s", '
        b'uri="/remote.php/dav/files/alice/good.txt", response="0123456789abcdef0123456789abcdef"'
        b"\r\n"
    )
    basic = b"Authorization: Basic %s\r\n" % base64.b64encode(f"alice:{USERS['alice']}".encode())
    return {
        "Digest username NUL": _raw_status(node, digest % (b"al\x00ice", b"abc")),
        "Digest nonce NUL": _raw_status(node, digest % (b"alice", b"a\x00bc")),
        "Digest username not UTF-8": _raw_status(node, digest % (b"al\xffice", b"abc")),
        "Basic NUL in header": _raw_status(node, b"Authorization: Basic \x00\r\n"),
        "PUT If NUL": _raw_status(node, basic + b"If: (<urn:uuid:a\x00b>)\r\n", b"PUT"),
        "LOCK If NUL": _raw_status(node, basic + b"If: (<urn:uuid:a\x00b>)\r\n", b"LOCK"),
        "UNLOCK NUL": _raw_status(node, basic + b"Lock-Token: <urn:uuid:a\x00b>\r\n", b"UNLOCK"),
        "UNLOCK not UTF-8": _raw_status(node, basic + b"Lock-Token: <a\xffb>\r\n", b"UNLOCK"),
    }


def test_text_postgres_cannot_hold_is_refused_with_4xx(node: DavServer) -> None:
    codes = _answers(node)
    wrong = {label: code for label, code in codes.items() if not 400 <= code < 500}
    errors = [line for line in node.output if " ERROR " in line or "Traceback" in line]
    assert not wrong, (wrong, errors[-10:])
    assert not errors, errors[-20:]
    with httpx.Client(auth=("alice", USERS["alice"]), timeout=30) as client:
        assert client.get(node.files_url("alice", "good.txt")).content == b"ok"  # lost nothing
        listing = client.request("PROPFIND", node.files_url("alice", ""), headers={"Depth": "1"})
    assert listing.status_code == 207 and "%00" not in listing.text and "\x00" not in listing.text
