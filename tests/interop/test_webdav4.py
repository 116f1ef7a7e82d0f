"""webdav4 (PyPI; its httpx client and its fsspec file system) against davserver, over
HTTPS with Basic and plain HTTP with Digest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import webdav4.client as webdav4_client  # the test extra installs webdav4[fsspec]: no skip
import webdav4.fsspec as webdav4_fsspec

from tests.interop.conftest import ENDPOINTS, Endpoint

pytestmark = [pytest.mark.interop]


@pytest.fixture()
def fs(endpoint: Endpoint) -> Iterator[object]:
    """A WebdavFileSystem rooted at a fresh folder in alice's home."""
    with endpoint.client() as http:
        url = endpoint.files_url(f"webdav4-{endpoint.name}/")
        http.request("DELETE", url)
        assert http.request("MKCOL", url).status_code == 201
    client = webdav4_client.Client(url, auth=endpoint.auth(), verify=endpoint.verify, timeout=60)
    yield webdav4_fsspec.WebdavFileSystem(url, client=client)
    client.http.close()


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_webdav4_fsspec_round_trip(fs: object) -> None:
    from webdav4.fsspec import WebdavFileSystem

    assert isinstance(fs, WebdavFileSystem)
    data = bytes(range(256)) * 1000
    fs.makedirs("a/b", exist_ok=True)
    fs.pipe_file("a/b/data.bin", data)
    fs.pipe_file("a/readme ü.txt", b"hello")
    assert fs.cat_file("a/b/data.bin") == data
    assert fs.cat_file("a/b/data.bin", start=10, end=20) == data[10:20]  # Range GET
    info = fs.info("a/b/data.bin")
    assert info["type"] == "file" and info["size"] == len(data)
    assert info["etag"].startswith('"')
    assert sorted(fs.ls("a", detail=False)) == ["a/b", "a/readme ü.txt"]
    assert sorted(fs.find("")) == ["a/b/data.bin", "a/readme ü.txt"]
    assert fs.du("a") == len(data) + 5
    fs.copy("a/b/data.bin", "a/copy.bin")  # server-side COPY
    fs.mv("a/readme ü.txt", "a/renamed.txt")  # server-side MOVE
    assert fs.cat_file("a/copy.bin") == data
    assert fs.exists("a/renamed.txt") and not fs.exists("a/readme ü.txt")
    fs.rm("a/b", recursive=True)
    assert not fs.exists("a/b")
    with fs.open("a/streamed.bin", "wb") as f:
        for _ in range(4):
            f.write(b"x" * 100_000)
    assert fs.size("a/streamed.bin") == 400_000


@pytest.mark.parametrize("endpoint", ENDPOINTS, indirect=True)
def test_webdav4_client_properties(fs: object) -> None:
    from webdav4.fsspec import WebdavFileSystem

    assert isinstance(fs, WebdavFileSystem)
    client = fs.client
    data = b"checksummed\n"
    fs.pipe_file("c.txt", data)
    props = client.get_props("c.txt")
    assert props.content_length == len(data)
    assert props.modified is not None and props.created is not None
    # webdav4 parses only standard properties (and its name=/namespace= request puts the name
    # in the DAV: namespace); send the body ourselves and read the raw XML it keeps
    body = (
        '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
        "<d:prop><oc:checksums/><d:getcontentlength/></d:prop></d:propfind>"
    )
    named = client.get_props("c.txt", data=body)
    assert named.response_xml is not None
    text = " ".join(
        e.text or "" for e in named.response_xml.iter("{http://owncloud.org/ns}checksum")
    )
    assert f"SHA1:{hashlib.sha1(data).hexdigest()}" in text, text
    assert f"MD5:{hashlib.md5(data).hexdigest()}" in text, text
    assert {"1", "2"} <= set(client.options(""))
