"""A WSGI host that sets no ``REQUEST_URI`` (only the decoded ``PATH_INFO``): names with a
literal ``%`` or non-ASCII letters are stored and read back, and the path policy still
refuses what it refuses behind cheroot. The in-process transport of httpx is such a host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from davserver.limits import RequestGuard, reencoded_path_info
from tests.support.inprocess import client_for, inprocess_app

pytestmark = pytest.mark.integration

NAMES = ["100%25.txt", "%41%42.bin", "caf%C3%A9.txt", "%E6%97%A5%E6%9C%AC.csv", "a%20b%2Bc.txt"]
"""Percent-encoded as sent: a literal ``%``, a ``%`` followed by hex digits, UTF-8 names."""


@pytest.mark.parametrize("name", NAMES)
def test_names_with_percent_or_non_ascii_round_trip(tmp_path: Path, name: str) -> None:
    body = f"content of {name}".encode()
    with inprocess_app(tmp_path) as app, client_for(app, "alice") as c:
        url = f"/remote.php/dav/files/alice/{name}"
        put = c.put(url, content=body)
        assert put.status_code == 201, put.text
        got = c.get(url)
        assert (got.status_code, got.content) == (200, body)


def _guard_status(path_info: str) -> str:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path_info,
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "h",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
    }
    b"".join(RequestGuard(app, trusted_proxies=[])(environ, lambda s, h, e=None: seen.append(s)))
    return seen[0]


@pytest.mark.parametrize(
    ("path_info", "status"),
    [
        ("/files/alice/100%.txt", "200 OK"),
        ("/files/alice/\xc3\xa9.txt", "200 OK"),  # UTF-8 bytes, one character per byte
        ("/files/alice/../bob/x", "400 Bad Request"),
        ("/files/alice/./x", "400 Bad Request"),
        ("/files/alice/a\x00b", "400 Bad Request"),
        ("/files/alice/a\x07b", "400 Bad Request"),
        ("/files/alice/\xff.txt", "400 Bad Request"),  # not UTF-8
        ("files/alice/x", "400 Bad Request"),
        ("", "400 Bad Request"),
    ],
)
def test_the_path_policy_holds_without_request_uri(path_info: str, status: str) -> None:
    assert _guard_status(path_info) == status


def test_reencoding_keeps_separators_and_encodes_the_rest() -> None:
    environ = {"SCRIPT_NAME": "", "PATH_INFO": "/a b/100%/\xc3\xa9\\x"}
    assert reencoded_path_info(environ) == "/a%20b/100%25/%C3%A9\\x"
