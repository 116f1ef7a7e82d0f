"""syncclient behind a real nginx that blocks WebDAV verbs: ``--transport auto`` notices the
refused PROPFIND, says so once, and syncs everything through form POSTs, verified."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interop.blocking_proxy import start_blocking_proxy
from interop.stock import StockServer
from interop.tools import UnavailableError
from tests.gateways.form_support import unavailable
from tests.support.server import DavServer
from tests.syncclient.conftest import ClientResult, remote_inventory, write_tree

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def proxy(server: DavServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StockServer]:
    try:
        front = start_blocking_proxy(tmp_path_factory.mktemp("blocking-proxy"), server.url)
    except UnavailableError as exc:
        unavailable(str(exc))
        raise
    yield front
    front.stop()


def _notes(r: ClientResult) -> list[str]:
    return [e["message"] for e in r.events() if e["event"] == "note"]


def test_the_proxy_blocks_webdav_but_passes_get(
    proxy: StockServer, alice_http: httpx.Client
) -> None:
    home = f"{proxy.url}remote.php/dav/files/alice/"
    assert alice_http.request("PROPFIND", home, headers={"Depth": "0"}).status_code == 403
    assert alice_http.put(home + "blocked.txt", content=b"x").status_code == 403
    assert alice_http.request("MKCOL", home + "blocked/").status_code == 403
    assert alice_http.get(home + "?inventory").status_code == 200


def test_sync_through_the_proxy_falls_back_to_form(
    proxy: StockServer,
    server: DavServer,
    sync: object,
    alice_http: httpx.Client,
    tmp_path: Path,
) -> None:
    name = f"proxied-{tmp_path.name[-12:]}/"
    via_proxy = f"{proxy.url}remote.php/dav/files/alice/{name}"
    files = {
        "report.csv": b"k,v\n" * 5000,
        "site/2026/12/log.txt": b"log line\n" * 300,
        "site/photo.jpg": bytes(range(256)) * 1000,
    }
    src = tmp_path / "src"
    write_tree(src, files)
    blocked = sync(src, via_proxy, "--transport", "webdav")  # type: ignore[operator]
    assert blocked.code != 0
    r = sync(src, via_proxy)  # type: ignore[operator]
    assert r.code == 0, r.stderr + r.stdout
    switches = [n for n in _notes(r) if "falling back to form upload" in n]
    assert len(switches) == 1, _notes(r)
    verified = {e["path"]: e for e in r.events() if e["event"] == "verified"}
    assert set(verified) == set(files)
    inv = remote_inventory(alice_http, server.files_url("alice", name))
    for rel, data in files.items():
        assert inv[rel]["sha256"] == hashlib.sha256(data).hexdigest(), rel
    again = sync(src, via_proxy)  # type: ignore[operator]
    assert again.code == 0, again.stderr + again.stdout
    assert again.summary()["nothing_transferred"] is True


def test_a_proxy_that_lets_propfind_through_is_noticed_at_the_first_write(
    server: DavServer,
    sync: object,
    alice_http: httpx.Client,
    tmp_path: Path,
) -> None:
    try:
        front = start_blocking_proxy(
            tmp_path / "proxy", server.url, allowed="GET POST HEAD OPTIONS PROPFIND"
        )
    except UnavailableError as exc:
        unavailable(str(exc))
        raise
    try:
        name = f"half-{tmp_path.name[-12:]}/"
        assert alice_http.request("MKCOL", server.files_url("alice", name)).status_code == 201
        files = {"a/one.txt": b"one\n" * 100, "two.txt": b"two\n" * 100}
        src = tmp_path / "src"
        write_tree(src, files)
        r = sync(src, f"{front.url}remote.php/dav/files/alice/{name}")  # type: ignore[operator]
        assert r.code == 0, r.stderr + r.stdout
        switches = [n for n in _notes(r) if "falling back to form upload" in n]
        assert len(switches) == 1, _notes(r)
        inv = remote_inventory(alice_http, server.files_url("alice", name))
        for rel, data in files.items():
            assert inv[rel]["sha256"] == hashlib.sha256(data).hexdigest(), rel
    finally:
        front.stop()
