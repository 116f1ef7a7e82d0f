"""What a new operator sees on the usual first mistakes, on the real server and CLI."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PASSWORDS
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


def test_basic_over_plain_http_401_says_why_and_what_to_do(server: DavServer) -> None:
    """curl -u (Basic) against a plain-HTTP server: the 401 names the cause and the fixes
    instead of a bare 'Access not authorized'; the Digest challenge stays."""
    r = httpx.put(
        server.files_url("alice", "first.txt"),
        content=b"hello",
        auth=("alice", PASSWORDS["alice"]),
    )
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Digest")
    text = r.text
    assert "Basic" in text and "plain HTTP" in text
    assert "--digest" in text and "HTTPS" in text
    assert int(r.headers["Content-Length"]) == len(r.content)
    head = httpx.head(server.files_url("alice"), auth=("alice", PASSWORDS["alice"]))
    assert head.status_code == 401 and head.content == b""
