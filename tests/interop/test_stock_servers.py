"""The harness for the bundled sync client against stock servers: stock WsgiDAV 4.4
(FilesystemProvider) and nginx's DAV module with dav-ext, each on a loopback port.

These tests only prove the harness (PUT, PROPFIND Depth 1, GET, MOVE, DELETE with plain
httpx); the sync client's own tests against these fixtures belong with the client.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import httpx
import pytest
from lxml import etree

from interop.stock import StockServer

pytestmark = [pytest.mark.interop]


def _client(server: StockServer) -> httpx.Client:
    auth: httpx.Auth
    if "digest" in server.auth_schemes:
        auth = httpx.DigestAuth(server.user, server.password)
    else:
        auth = httpx.BasicAuth(server.user, server.password)
    return httpx.Client(auth=auth, timeout=60.0)


def _names(body: bytes, base_path: str) -> dict[str, str]:
    """{name relative to base_path: getcontentlength or "dir"} of a Depth 1 multistatus."""
    out: dict[str, str] = {}
    for resp in etree.fromstring(body).iter("{DAV:}response"):
        path = unquote(urlsplit(resp.findtext("{DAV:}href") or "").path)
        rel = path[len(base_path) :].strip("/")
        if not rel:
            continue
        is_dir = resp.find(".//{DAV:}resourcetype/{DAV:}collection") is not None
        out[rel] = "dir" if is_dir else (resp.findtext(".//{DAV:}getcontentlength") or "")
    return out


def _exercise(server: StockServer) -> None:
    with _client(server) as http:
        anon = httpx.request("PROPFIND", server.url, headers={"Depth": "0"}, timeout=30)
        assert anon.status_code == 401
        assert http.request("MKCOL", server.url + "site-a/").status_code == 201
        assert http.put(server.url + "site-a/log 1.txt", content=b"hello").status_code == 201
        assert http.put(server.url + "site-a/log 1.txt", content=b"hello!").status_code == 204
        r = http.request("PROPFIND", server.url + "site-a/", headers={"Depth": "1"})
        assert r.status_code == 207, r.text
        base = httpx.URL(server.url).path + "site-a/"
        assert _names(r.content, base) == {"log 1.txt": "6"}, r.text
        assert http.get(server.url + "site-a/log 1.txt").content == b"hello!"
        r = http.request(
            "MOVE",
            server.url + "site-a/log 1.txt",
            headers={"Destination": server.url + "site-a/log-2.txt"},
        )
        assert r.status_code in (201, 204), r.text
        assert http.get(server.url + "site-a/log-2.txt").content == b"hello!"
        assert http.delete(server.url + "site-a/").status_code == 204
        assert (
            http.request("PROPFIND", server.url + "site-a/", headers={"Depth": "0"}).status_code
            == 404
        )


def test_stock_wsgidav_harness(stock_wsgidav: StockServer) -> None:
    _exercise(stock_wsgidav)


def test_nginx_dav_harness(nginx_dav: StockServer) -> None:
    _exercise(nginx_dav)
