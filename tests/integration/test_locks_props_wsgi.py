"""Locks and dead properties through WsgiDAV over HTTP, backed by the SQLite stores.

A real cheroot server on 127.0.0.1 serves a WsgiDAVApp whose ``lock_storage`` and
``property_manager`` are SQLiteLockStorage and SQLitePropertyManager instances.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cheroot import wsgi
from lxml import etree
from wsgidav.fs_dav_provider import FilesystemProvider
from wsgidav.wsgidav_app import WsgiDAVApp

from davserver.dav.lock_store import SQLiteLockStorage
from davserver.dav.prop_store import SQLitePropertyManager

pytestmark = pytest.mark.integration

NS = {"D": "DAV:", "Z": "urn:example:"}

LOCKINFO = b"""<?xml version="1.0" encoding="utf-8"?>
<D:lockinfo xmlns:D="DAV:">
  <D:lockscope><D:exclusive/></D:lockscope>
  <D:locktype><D:write/></D:locktype>
  <D:owner><D:href>mailto:alice@example.org</D:href></D:owner>
</D:lockinfo>"""

PROPFIND = b"""<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:Z="urn:example:">
  <D:prop><Z:color/><D:lockdiscovery/></D:prop>
</D:propfind>"""


def proppatch_body(value: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:">'
        f"<D:set><D:prop><Z:color>{value}</Z:color></D:prop></D:set>"
        "</D:propertyupdate>"
    ).encode()


def make_app(files: Path, db_path: Path) -> WsgiDAVApp:
    config: dict[str, Any] = {
        "provider_mapping": {"/": FilesystemProvider(str(files))},
        "simple_dc": {"user_mapping": {"*": True}},
        "http_authenticator": {"domain_controller": None},
        "lock_storage": SQLiteLockStorage(db_path),
        "property_manager": SQLitePropertyManager(db_path),
        "dir_browser": {"enable": False},
        "logging": {"enable": False},
        "verbose": 1,
    }
    return WsgiDAVApp(config)


@contextmanager
def serving(app: WsgiDAVApp) -> Iterator[httpx.Client]:
    server = wsgi.Server(("127.0.0.1", 0), app)
    server.prepare()
    port = server.bind_addr[1]
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.stop()
        thread.join(timeout=10)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    return root


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "dav.sqlite"


@pytest.fixture
def client(files: Path, db_path: Path) -> Iterator[httpx.Client]:
    with serving(make_app(files, db_path)) as http:
        yield http


def propfind(client: httpx.Client, path: str) -> etree._Element:
    response = client.request(
        "PROPFIND", path, content=PROPFIND, headers={"Depth": "0", "Content-Type": "text/xml"}
    )
    assert response.status_code == 207, response.text
    return etree.fromstring(response.content)


def color_of(client: httpx.Client, path: str) -> str | None:
    tree = propfind(client, path)
    for propstat in tree.iterfind(".//D:propstat", NS):
        color = propstat.find("D:prop/Z:color", NS)
        status = propstat.findtext("D:status", namespaces=NS) or ""
        if color is not None and " 200 " in status:
            text: str | None = color.text
            return text
    return None


def proppatch(client: httpx.Client, path: str, value: str, **headers: str) -> httpx.Response:
    return client.request(
        "PROPPATCH",
        path,
        content=proppatch_body(value),
        headers={"Content-Type": "text/xml", **headers},
    )


def lock(client: httpx.Client, path: str) -> str:
    response = client.request(
        "LOCK",
        path,
        content=LOCKINFO,
        headers={"Depth": "0", "Timeout": "Second-600", "Content-Type": "text/xml"},
    )
    assert response.status_code == 200, response.text
    token = response.headers["Lock-Token"].strip("<>")
    assert token.startswith("opaquelocktoken:")
    return token


def test_lock_put_proppatch_propfind_move(client: httpx.Client, files: Path) -> None:
    assert client.put("/file.txt", content=b"v1").status_code == 201
    token = lock(client, "/file.txt")

    assert client.put("/file.txt", content=b"v2").status_code == 423
    assert (files / "file.txt").read_bytes() == b"v1"
    response = client.put("/file.txt", content=b"v2", headers={"If": f"(<{token}>)"})
    assert response.status_code in (200, 204), response.text
    assert (files / "file.txt").read_bytes() == b"v2"

    # The lock is reported with the owner XML that was stored as text.
    tree = propfind(client, "/file.txt")
    active = tree.find(".//D:lockdiscovery/D:activelock", NS)
    assert active is not None
    assert active.findtext("D:owner/D:href", namespaces=NS) == "mailto:alice@example.org"
    assert active.findtext("D:locktoken/D:href", namespaces=NS) == token
    timeout = active.findtext("D:timeout", namespaces=NS) or ""
    assert timeout.startswith("Second-")
    assert 500 < int(timeout.removeprefix("Second-")) <= 600

    assert proppatch(client, "/file.txt", "red").status_code == 423
    response = proppatch(client, "/file.txt", "red", If=f"(<{token}>)")
    assert response.status_code == 207, response.text
    assert color_of(client, "/file.txt") == "red"

    response = client.request("UNLOCK", "/file.txt", headers={"Lock-Token": f"<{token}>"})
    assert response.status_code == 204
    base = str(client.base_url).rstrip("/")
    response = client.request("MOVE", "/file.txt", headers={"Destination": f"{base}/moved.txt"})
    assert response.status_code == 201, response.text
    assert color_of(client, "/moved.txt") == "red"
    missing = client.request("PROPFIND", "/file.txt", headers={"Depth": "0"})
    assert missing.status_code == 404


def test_collection_move_carries_member_properties(client: httpx.Client) -> None:
    for collection in ("/dir/", "/dirx/"):
        assert client.request("MKCOL", collection).status_code == 201
    assert client.put("/dir/a.txt", content=b"a").status_code == 201
    assert client.put("/dirx/a.txt", content=b"x").status_code == 201
    for path, value in [("/dir/", "dir"), ("/dir/a.txt", "member"), ("/dirx/a.txt", "other")]:
        assert proppatch(client, path, value).status_code == 207

    base = str(client.base_url).rstrip("/")
    response = client.request("MOVE", "/dir/", headers={"Destination": f"{base}/dir2/"})
    assert response.status_code == 201, response.text

    assert color_of(client, "/dir2/") == "dir"
    assert color_of(client, "/dir2/a.txt") == "member"
    assert color_of(client, "/dirx/a.txt") == "other"


def test_oversized_property_is_refused_with_507(client: httpx.Client) -> None:
    assert client.put("/big.txt", content=b"x").status_code == 201
    response = proppatch(client, "/big.txt", "x" * (65 * 1024))
    assert response.status_code == 207
    status = etree.fromstring(response.content).findtext(".//D:status", namespaces=NS)
    assert status is not None and " 507 " in status
    assert color_of(client, "/big.txt") is None


def test_lock_taken_on_one_server_binds_another(files: Path, db_path: Path) -> None:
    """Two apps with their own LockManager and storage share one database, like processes."""
    with (
        serving(make_app(files, db_path)) as one,
        serving(make_app(files, db_path)) as two,
    ):
        assert one.put("/shared.txt", content=b"1").status_code == 201
        token = lock(one, "/shared.txt")
        assert two.put("/shared.txt", content=b"2").status_code == 423
        response = two.put("/shared.txt", content=b"2", headers={"If": f"(<{token}>)"})
        assert response.status_code in (200, 204)
        second = two.request(
            "LOCK",
            "/shared.txt",
            content=LOCKINFO,
            headers={"Depth": "0", "Content-Type": "text/xml"},
        )
        assert second.status_code == 423
        response = two.request("UNLOCK", "/shared.txt", headers={"Lock-Token": f"<{token}>"})
        assert response.status_code == 204
        assert one.put("/shared.txt", content=b"3").status_code in (200, 204)
