"""An HTTP/1.0 request with ``Transfer-Encoding`` is refused, not stored empty.

Chunked transfer coding does not exist in HTTP/1.0 and RFC 9112 (section 6.1) says such a
message's framing is faulty. cheroot ignored the chunked body of an HTTP/1.0 PUT: the server
answered 201 Created and stored an empty file, the client's content silently dropped.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support import rawhttp
from tests.support.configured import USERS
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


def test_chunked_http10_put_is_refused(hostile: DavServer) -> None:
    target = "/remote.php/dav/files/alice/http10-chunked.txt"
    request = (
        f"PUT {target} HTTP/1.0\r\nHost: {urlsplit(hostile.url).netloc}\r\n"
        f"Authorization: {rawhttp.basic('alice', USERS['alice'])}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    response = rawhttp.exchange(hostile.url, request)
    assert response.status == 400, response.raw[:200]
    assert not (hostile.root / "files" / "alice" / "http10-chunked.txt").exists()


def test_http10_put_without_content_length_is_411(hostile: DavServer) -> None:
    target = "/remote.php/dav/files/alice/http10-unframed.txt"
    request = (
        f"PUT {target} HTTP/1.0\r\nHost: {urlsplit(hostile.url).netloc}\r\n"
        f"Authorization: {rawhttp.basic('alice', USERS['alice'])}\r\n\r\nhello until close"
    ).encode()
    response = rawhttp.exchange(hostile.url, request)
    assert response.status == 411, response.raw[:200]
    assert not (hostile.root / "files" / "alice" / "http10-unframed.txt").exists()


def test_http10_put_with_content_length_is_stored(hostile: DavServer) -> None:
    target = "/remote.php/dav/files/alice/http10-framed.txt"
    request = (
        f"PUT {target} HTTP/1.0\r\nHost: {urlsplit(hostile.url).netloc}\r\n"
        f"Authorization: {rawhttp.basic('alice', USERS['alice'])}\r\n"
        "Content-Length: 5\r\n\r\nhello"
    ).encode()
    response = rawhttp.exchange(hostile.url, request)
    assert response.status == 201, response.raw[:200]
    assert (hostile.root / "files" / "alice" / "http10-framed.txt").read_bytes() == b"hello"
