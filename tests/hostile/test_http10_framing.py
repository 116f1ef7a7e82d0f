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


def _put_http10(hostile: DavServer, name: str, framing: str, body: str) -> int:
    """The status of an HTTP/1.0 PUT of ``body`` to alice's ``name`` with ``framing``
    headers (each ending in CRLF); the connection then closes."""
    request = (
        f"PUT /remote.php/dav/files/alice/{name} HTTP/1.0\r\n"
        f"Host: {urlsplit(hostile.url).netloc}\r\n"
        f"Authorization: {rawhttp.basic('alice', USERS['alice'])}\r\n{framing}\r\n{body}"
    ).encode()
    response = rawhttp.exchange(hostile.url, request)
    return response.status


def test_chunked_http10_put_is_refused(hostile: DavServer) -> None:
    framing = "Transfer-Encoding: chunked\r\n"
    assert _put_http10(hostile, "chunked.txt", framing, "5\r\nhello\r\n0\r\n\r\n") == 400
    assert not (hostile.root / "files" / "alice" / "chunked.txt").exists()


def test_http10_put_without_content_length_is_411(hostile: DavServer) -> None:
    assert _put_http10(hostile, "unframed.txt", "", "hello until close") == 411
    assert not (hostile.root / "files" / "alice" / "unframed.txt").exists()


def test_http10_put_with_content_length_is_stored(hostile: DavServer) -> None:
    assert _put_http10(hostile, "framed.txt", "Content-Length: 5\r\n", "hello") == 201
    assert (hostile.root / "files" / "alice" / "framed.txt").read_bytes() == b"hello"
