"""A listing's ``oc:checksums`` come with the folder listing itself, and still follow files
changed on disk behind the server's back."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from lxml import etree

from davserver.app import App, build_app
from davserver.settings import load_settings
from providers.local.provider import LocalProvider
from tests.support.configured import USERS, prepare_root, start_server
from tests.support.server import DavServer
from tests.support.spies import first_arguments

OC = "http://owncloud.org/ns"
LISTING = (
    b'<D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop>'
    b"<D:getcontentlength/><D:getetag/><D:getlastmodified/><D:resourcetype/>"
    b"<oc:checksums/></D:prop></D:propfind>"
)
BASE = "/remote.php/dav/files/alice/d/"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return prepare_root(tmp_path, "auth:\n  basic_over_http: true\n")


@pytest.fixture
def app(tmp_path: Path, root: Path) -> App:
    return build_app(load_settings(tmp_path / "config.yaml", {"root": root}))


@pytest.fixture
def alice(app: App) -> Iterator[httpx.Client]:
    transport = httpx.WSGITransport(app=app.wsgi, remote_addr="127.0.0.1")
    with httpx.Client(
        transport=transport, base_url="http://dav.test", auth=("alice", USERS["alice"])
    ) as c:
        assert c.request("MKCOL", BASE).status_code == 201
        assert c.request("MKCOL", BASE + "sub/").status_code == 201
        for name in ("a.txt", "b.txt"):
            assert c.put(BASE + name, content=name.encode() * 10).status_code == 201
        yield c


def listing(client: httpx.Client) -> dict[str, tuple[str, str]]:
    """name -> (ETag, oc:checksums text) of the members of ``BASE``."""
    r = client.request("PROPFIND", BASE, content=LISTING, headers={"Depth": "1"})
    assert r.status_code == 207
    out: dict[str, tuple[str, str]] = {}
    for response in etree.fromstring(r.content).iter("{DAV:}response"):
        href = response.findtext("{DAV:}href") or ""
        name = href.rstrip("/").rsplit("/", 1)[-1]
        etag = response.findtext(".//{DAV:}getetag") or ""
        sums = response.findtext(f".//{{{OC}}}checksums/{{{OC}}}checksum") or ""
        out[name] = (etag, sums)
    return out


def sha1(data: bytes) -> str:
    return "SHA1:" + hashlib.sha1(data).hexdigest()


def test_checksums_of_known_files_come_with_the_listing(
    alice: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = first_arguments(monkeypatch, LocalProvider, "digests_many")
    listed = listing(alice)
    assert sha1(b"a.txt" * 10) in listed["a.txt"][1]
    assert sha1(b"b.txt" * 10) in listed["b.txt"][1]
    assert listed["sub"][1] == ""
    assert asked == []  # no second look-up of what the listing read


def test_checksums_follow_a_file_rewritten_behind_the_servers_back(
    alice: httpx.Client, root: Path
) -> None:
    before = listing(alice)
    on_disk = root / "files" / "alice" / "d" / "a.txt"
    old = os.stat(on_disk)
    data = b"A.TXT" * 10  # same size, same mtime: only the ctime tells
    on_disk.write_bytes(data)
    os.utime(on_disk, ns=(old.st_atime_ns, old.st_mtime_ns))
    after = listing(alice)
    assert sha1(data) in after["a.txt"][1]
    assert after["a.txt"][0] != before["a.txt"][0]
    assert after["b.txt"] == before["b.txt"]


NAMES = ["caf\u00e9 (1).txt", "100% & more+#'!.txt", "a=b;c,d@e$f~g.txt", "\u65e5\u672c"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    srv = start_server(tmp_path_factory.mktemp("hrefs"), "auth:\n  basic_over_http: true\n")
    yield srv
    srv.stop()


@pytest.mark.parametrize("share", ["remote.php/dav/files/alice/", "remote.php/webdav/"])
def test_member_hrefs_are_those_of_each_member_on_its_own(server: DavServer, share: str) -> None:
    folder = f"{server.url}{share}h{len(share)}/"
    with httpx.Client(auth=("alice", USERS["alice"])) as c:
        assert c.request("MKCOL", folder).status_code == 201
        for name in NAMES:
            assert c.put(folder + quote(name), content=b"x").status_code == 201
        assert c.request("MKCOL", folder + quote("sub dir (2)") + "/").status_code == 201
        r = c.request("PROPFIND", folder, content=LISTING, headers={"Depth": "1"})
        listed = [e.text or "" for e in etree.fromstring(r.content).iter("{DAV:}href")][1:]
        assert len(listed) == len(NAMES) + 1
        alone = []
        for href in listed:
            one = c.request(
                "PROPFIND", server.url + href.lstrip("/"), content=LISTING, headers={"Depth": "0"}
            )
            assert one.status_code == 207
            alone.append(etree.fromstring(one.content).findtext("{DAV:}response/{DAV:}href"))
    assert listed == alone
    assert all(href.startswith("/" + share) for href in listed)
