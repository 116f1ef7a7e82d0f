"""davfs2 (Debian, FUSE) as the Linux analogue of a mapped network drive.

One mount over HTTPS (the session's TLS server, its CA in ``trust_ca_cert``, credentials in a
secrets file) serves the file-level tests; a second mount checks plain HTTP with Digest.
Each test works in its own fresh folder below the mount (fixture ``area``) and puts there,
through the server, whatever it needs, so the tests pass alone and in any order. Results are
checked on the server directly, not through davfs2's cache.

Listing a directory through the mount (readdir) fails with EINVAL on some machines against
every server, stock WsgiDAV and nginx included: a FUSE platform limit, not a server defect.
Where that happens, ``test_davfs2_ls`` skips and says so, and the listing davfs2 would show is
checked through the same PROPFIND davfs2 sends (``test_davfs2_listing_via_propfind``);
``stat`` of known names works either way and is tested.

The large file is 200 MiB (``DAVSYNC_INTEROP_BIG_MB`` changes it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from lxml import etree

from interop.davfs import DavfsMount, preflight, readdir_is_broken
from interop.stock import StockServer
from interop.tools import require, wait_until
from tests.conftest import PASSWORDS
from tests.support.server import DavServer

pytestmark = [pytest.mark.interop, pytest.mark.slow]

BIG_MB = int(os.environ.get("DAVSYNC_INTEROP_BIG_MB", "200"))
UPLOAD_WAIT_S = 300.0
FOLDER = "davfs"
PROPFIND_DAVFS2 = (  # what davfs2 asks for when it lists a directory (src/webdav.c)
    '<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop>'
    "<resourcetype/><getcontentlength/><getetag/><getlastmodified/>"
    '<executable xmlns="http://apache.org/dav/props/"/></prop></propfind>'
)


def _available() -> None:
    require(preflight)


@pytest.fixture(scope="module")
def http(tls_server: DavServer, ca_file: Path) -> Iterator[httpx.Client]:
    """alice's client for looking at the server directly."""
    with httpx.Client(
        auth=httpx.BasicAuth("alice", PASSWORDS["alice"]), verify=str(ca_file), timeout=120.0
    ) as client:
        yield client


@pytest.fixture(scope="module")
def base_url(tls_server: DavServer, http: httpx.Client) -> str:
    url = tls_server.files_url("alice", FOLDER + "/")
    http.request("DELETE", url)
    assert http.request("MKCOL", url).status_code == 201
    return url


@pytest.fixture(scope="module")
def mount(base_url: str, ca_file: Path) -> Iterator[DavfsMount]:
    _available()
    m = DavfsMount(base_url, "alice", PASSWORDS["alice"], ca_file)
    m.mount()
    yield m
    m.cleanup()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A BIG_MB MiB file of random bytes and its SHA-1."""
    path = tmp_path_factory.mktemp("davfs-big") / "big.bin"
    sha1 = hashlib.sha1()
    with path.open("wb") as f:
        for _ in range(BIG_MB):
            block = os.urandom(1024 * 1024)
            sha1.update(block)
            f.write(block)
    return path, sha1.hexdigest()


@dataclass(frozen=True)
class Area:
    """A test's own folder: its URL on the server and its path in the mount."""

    url: str
    local: Path


@pytest.fixture()
def area(
    request: pytest.FixtureRequest, mount: DavfsMount, http: httpx.Client, base_url: str
) -> Area:
    """A fresh, empty folder for this test, created on the server and visible in the mount."""
    name = "".join(ch if ch.isalnum() else "-" for ch in request.node.name)
    url = base_url + name + "/"
    http.request("DELETE", url)
    assert http.request("MKCOL", url).status_code == 201
    local = mount.path(name)
    assert wait_until(local.is_dir, 30), f"{name} does not show up in the mount"
    return Area(url, local)


def _put(http: httpx.Client, url: str, data: bytes) -> None:
    """Store ``data`` at ``url`` through the server (davfs2 has not seen it)."""
    assert http.put(url, content=data).status_code in (201, 204)


@pytest.fixture(scope="module")
def big_on_server(http: httpx.Client, base_url: str, big_file: tuple[Path, str]) -> str:
    """URL of the big file stored through the server (uploaded once per module)."""
    path, sha1 = big_file
    url = base_url + "big-source.bin"
    if _server_sha1(http, url) != sha1:
        with path.open("rb") as f:
            assert http.put(url, content=f).status_code in (201, 204)
    assert _server_sha1(http, url) == sha1
    return url


def _server_sha1(http: httpx.Client, url: str) -> str | None:
    r = http.head(url)
    if r.status_code != 200:
        return None
    value = r.headers.get("OC-Checksum", "")
    return value.split(":", 1)[1] if value.startswith("SHA1:") else None


def _wait_for_sha1(http: httpx.Client, url: str, sha1: str) -> None:
    ok = wait_until(lambda: _server_sha1(http, url) == sha1, UPLOAD_WAIT_S, 0.5)
    assert ok, f"{url}: server has {_server_sha1(http, url)}, expected {sha1}"


def _copy(src: Path, dst: Path) -> str:
    """Copy in 1 MiB blocks; return the SHA-1 of what was copied."""
    sha1 = hashlib.sha1()
    with src.open("rb") as a, dst.open("wb") as b:
        while block := a.read(1024 * 1024):
            sha1.update(block)
            b.write(block)
    return sha1.hexdigest()


def _sha1_of(path: Path) -> str:
    sha1 = hashlib.sha1()
    with path.open("rb") as f:
        while block := f.read(1024 * 1024):
            sha1.update(block)
    return sha1.hexdigest()


def test_davfs2_mount(mount: DavfsMount) -> None:
    assert os.path.ismount(mount.mountpoint)
    assert mount.mountpoint.is_dir()
    log = "".join(mount.log)
    assert "warning" not in log.lower(), log  # e.g. "locks disabled" without DAV class 2


def test_davfs2_copy_in_small(area: Area, http: httpx.Client) -> None:
    data = b"site PC export\n" * 1000
    (area.local / "small.txt").write_bytes(data)
    _wait_for_sha1(http, area.url + "small.txt", hashlib.sha1(data).hexdigest())
    assert http.get(area.url + "small.txt").content == data


def test_davfs2_copy_in_large(area: Area, http: httpx.Client, big_file: tuple[Path, str]) -> None:
    src, sha1 = big_file
    assert _copy(src, area.local / "big.bin") == sha1
    _wait_for_sha1(http, area.url + "big.bin", sha1)
    assert http.head(area.url + "big.bin").headers["Content-Length"] == str(BIG_MB * 1024 * 1024)


def test_davfs2_copy_out_small(area: Area, http: httpx.Client) -> None:
    data = os.urandom(50_000)
    _put(http, area.url + "from-server.bin", data)
    assert wait_until((area.local / "from-server.bin").exists, 30)
    assert (area.local / "from-server.bin").read_bytes() == data


def test_davfs2_copy_out_large(
    area: Area,
    http: httpx.Client,
    big_on_server: str,
    big_file: tuple[Path, str],
    tmp_path: Path,
) -> None:
    _, sha1 = big_file
    # a server-side copy: davfs2 has never seen it, so reading it is a real GET
    r = http.request("COPY", big_on_server, headers={"Destination": area.url + "big-copy.bin"})
    assert r.status_code == 201, r.text
    assert wait_until((area.local / "big-copy.bin").exists, 30)
    out = tmp_path / "out.bin"
    shutil.copyfile(area.local / "big-copy.bin", out)
    assert _sha1_of(out) == sha1
    out.unlink()
    assert http.delete(area.url + "big-copy.bin").status_code == 204


def test_davfs2_stat(area: Area, http: httpx.Client) -> None:
    data = b"site PC export\n" * 1000
    _put(http, area.url + "small.txt", data)
    assert wait_until((area.local / "small.txt").exists, 30)
    st = (area.local / "small.txt").stat()
    assert st.st_size == len(data)
    r = http.head(area.url + "small.txt")
    assert int(st.st_mtime) == int(parsedate_to_datetime(r.headers["Last-Modified"]).timestamp())
    assert not (area.local / "no-such-file").exists()


def test_davfs2_mkdir_and_mv(area: Area, http: httpx.Client) -> None:
    data = b"site PC export\n" * 1000
    _put(http, area.url + "small.txt", data)
    assert wait_until((area.local / "small.txt").exists, 30)
    (area.local / "reports").mkdir()
    r = http.request("PROPFIND", area.url + "reports/", headers={"Depth": "0"})
    assert r.status_code == 207
    (area.local / "small.txt").rename(area.local / "reports/renamed.txt")
    assert wait_until(lambda: http.head(area.url + "small.txt").status_code == 404, 30)
    assert http.get(area.url + "reports/renamed.txt").content == data
    (area.local / "reports").rename(area.local / "reports-2025")
    assert wait_until(
        lambda: http.head(area.url + "reports-2025/renamed.txt").status_code == 200, 30
    )
    assert http.head(area.url + "reports/renamed.txt").status_code == 404


def test_davfs2_edit_in_place(area: Area, http: httpx.Client) -> None:
    _put(http, area.url + "edit.txt", b"0123456789\n")
    assert wait_until((area.local / "edit.txt").exists, 30)
    with (area.local / "edit.txt").open("r+b") as f:
        f.seek(3)
        f.write(b"XY")
        f.seek(0, os.SEEK_END)
        f.write(b"appended\n")
    expected = b"012XY56789\nappended\n"
    _wait_for_sha1(http, area.url + "edit.txt", hashlib.sha1(expected).hexdigest())
    # the lock davfs2 took while the file was open is gone
    lock = http.request("PROPFIND", area.url + "edit.txt", headers={"Depth": "0"})
    assert b"activelock" not in lock.content, lock.text


def test_davfs2_rm(area: Area, http: httpx.Client) -> None:
    _put(http, area.url + "from-server.bin", b"to be removed")
    assert http.request("MKCOL", area.url + "reports-2025/").status_code == 201
    _put(http, area.url + "reports-2025/renamed.txt", b"also removed")
    assert wait_until((area.local / "reports-2025" / "renamed.txt").exists, 30)
    (area.local / "from-server.bin").unlink()
    assert wait_until(lambda: http.head(area.url + "from-server.bin").status_code == 404, 30)
    (area.local / "reports-2025/renamed.txt").unlink()
    (area.local / "reports-2025").rmdir()
    r = http.request("PROPFIND", area.url + "reports-2025/", headers={"Depth": "0"})
    assert r.status_code == 404


def test_davfs2_df_quota(
    area: Area, http: httpx.Client, mount: DavfsMount, tls_server: DavServer
) -> None:
    _put(http, area.url + "a.bin", b"a" * 3000)
    _put(http, area.url + "b.bin", b"b" * 4000)
    body = (
        '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
        "<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"
    )
    r = http.request("PROPFIND", area.url, headers={"Depth": "0"}, content=body)
    assert r.status_code == 207
    root = etree.fromstring(r.content)
    assert int(root.findtext(".//{DAV:}quota-used-bytes") or "-1") == 7000  # the folder's files
    r = http.request("PROPFIND", mount.url, headers={"Depth": "0"}, content=body)
    root = etree.fromstring(r.content)
    used = int(root.findtext(".//{DAV:}quota-used-bytes") or "-1")
    available = int(root.findtext(".//{DAV:}quota-available-bytes") or "-1")
    on_disk = tls_server.root / "files" / "alice" / FOLDER
    assert used == sum(p.stat().st_size for p in on_disk.rglob("*") if p.is_file())
    assert 0 < available <= shutil.disk_usage(on_disk).free
    st = os.statvfs(mount.mountpoint)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    # davfs2 reports quota-used + quota-available as the size, in blocks; the disk is shared
    # with other processes, so allow for some drift between the two readings
    assert abs(total - (used + available)) <= max(0.01 * total, 64 * 1024 * 1024), (total, used)
    assert abs(free - available) <= max(0.01 * total, 64 * 1024 * 1024), (free, available)


def test_davfs2_ls(area: Area, http: httpx.Client, request: pytest.FixtureRequest) -> None:
    _put(http, area.url + "edit.txt", b"listed")
    assert wait_until((area.local / "edit.txt").exists, 30)
    if not readdir_is_broken(area.local):
        assert set(os.listdir(area.local)) == {"edit.txt"}
        return
    # is it this machine or this server? the same listing through nginx's DAV module
    try:
        nginx: StockServer = request.getfixturevalue("nginx_dav")
    except pytest.skip.Exception as exc:
        pytest.skip(f"davfs2 readdir fails with EINVAL; not cross-checked ({exc})")
    with httpx.Client(auth=httpx.BasicAuth(nginx.user, nginx.password), timeout=30) as plain:
        assert plain.put(nginx.url + "probe.txt", content=b"probe").status_code in (201, 204)
    other = DavfsMount(nginx.url, nginx.user, nginx.password)
    other.mount()
    try:
        nginx_broken = readdir_is_broken(other.mountpoint)
    finally:
        other.cleanup()
    assert nginx_broken, "davfs2 lists nginx's share but not ours: a server defect"
    pytest.skip(
        "davfs2 readdir fails with EINVAL on this machine against every server, nginx's DAV "
        "module included (FUSE platform limit); the listing is checked by "
        "test_davfs2_listing_via_propfind and stat of known names by test_davfs2_stat"
    )


def test_davfs2_listing_via_propfind(area: Area, http: httpx.Client) -> None:
    """The Depth 1 PROPFIND davfs2 sends for a listing, with the properties it asks for, of a
    folder holding one file written through the mount."""
    data = b"012XY56789\nappended\n"
    (area.local / "edit.txt").write_bytes(data)
    _wait_for_sha1(http, area.url + "edit.txt", hashlib.sha1(data).hexdigest())
    r = http.request(
        "PROPFIND",
        area.url,
        headers={"Depth": "1", "Content-Type": "application/xml"},
        content=PROPFIND_DAVFS2,
    )
    assert r.status_code == 207
    root = etree.fromstring(r.content)
    folder = area.url.rstrip("/").rsplit("/", 1)[1]
    names: dict[str, dict[str, str]] = {}
    for resp in root.iter("{DAV:}response"):
        href = resp.findtext("{DAV:}href") or ""
        rel = href.split(f"/{folder}/", 1)[1]
        if not rel:
            continue
        props: dict[str, str] = {}
        for ps in resp.iter("{DAV:}propstat"):
            prop = ps.find("{DAV:}prop")
            if prop is not None and " 200 " in (ps.findtext("{DAV:}status") or ""):
                props.update({el.tag: el.text or "" for el in prop})
        names[rel] = props
    assert set(names) == {"edit.txt"}, names
    props = names["edit.txt"]
    assert props["{DAV:}getcontentlength"] == str(len(data))
    assert props["{DAV:}getetag"].startswith('"'), props  # strong, quoted (davfs2 caches on it)
    assert (area.local / "edit.txt").stat().st_size == len(data)


def test_davfs2_http_digest(server: DavServer) -> None:
    """A second mount over plain HTTP, answering the server's Digest challenge."""
    _available()
    url = server.files_url("alice", "davfs-digest/")
    with httpx.Client(auth=httpx.DigestAuth("alice", PASSWORDS["alice"]), timeout=60) as http:
        http.request("DELETE", url)
        assert http.request("MKCOL", url).status_code == 201
        assert http.put(url + "from-server.txt", content=b"over digest").status_code == 201
        m = DavfsMount(url, "alice", PASSWORDS["alice"])
        m.mount()
        try:
            assert m.path("from-server.txt").read_bytes() == b"over digest"
            m.path("from-mount.txt").write_bytes(b"written through davfs2")
            ok = wait_until(
                lambda: http.get(url + "from-mount.txt").content == b"written through davfs2", 60
            )
            assert ok
        finally:
            m.cleanup()
