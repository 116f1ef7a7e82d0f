"""A real ``davserver`` storing on a real Ceph radosgw (``storage: s3://...``): the everyday
WebDAV methods work, and an object store that dies in the middle of an upload costs the
client a ``503`` with ``Retry-After`` and nothing else: the old version stays, and the same
request succeeds once radosgw is back, with no restart of the server."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import digest_client
from tests.support.ceph import S3Target
from tests.support.server import DavServer

pytestmark = [pytest.mark.integration, pytest.mark.s3]

PROPFIND_BODY = b'<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>'


@pytest.fixture()
def alice_client() -> Iterator[httpx.Client]:
    with digest_client("alice") as client:
        yield client


def test_everyday_methods(s3_server: DavServer, alice_client: httpx.Client) -> None:
    c, url = alice_client, s3_server.files_url("alice")
    data = random.Random(3).randbytes(3 * 1024 * 1024 + 5)
    assert c.request("MKCOL", url + "d/").status_code == 201
    assert c.put(url + "d/a.bin", content=data).status_code == 201
    got = c.get(url + "d/a.bin")
    assert got.status_code == 200 and got.content == data
    part = c.get(url + "d/a.bin", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    listing = c.request("PROPFIND", url + "d/", headers={"Depth": "1"}, content=PROPFIND_BODY)
    assert listing.status_code == 207 and "a.bin" in listing.text
    assert str(len(data)) in listing.text
    dest = {"Destination": url + "d/b.bin"}
    assert c.request("COPY", url + "d/a.bin", headers=dest).status_code == 201
    move = {"Destination": url + "moved/"}
    assert c.request("MOVE", url + "d/", headers=move).status_code == 201
    assert c.get(url + "moved/b.bin").content == data
    assert c.get(url + "d/a.bin").status_code == 404
    assert c.delete(url + "moved/a.bin").status_code == 204
    assert c.get(url + "moved/a.bin").status_code == 404
    assert hashlib.sha256(c.get(url + "moved/b.bin").content).hexdigest() == (
        hashlib.sha256(data).hexdigest()
    )


def test_object_store_dying_mid_upload_answers_503_and_recovers(
    s3_server: DavServer, s3_target: S3Target, alice_client: httpx.Client
) -> None:
    c, url = alice_client, s3_server.files_url("alice") + "f.bin"
    old = b"old version " * 1000
    assert c.put(url, content=old).status_code == 201
    etag = c.head(url).headers["ETag"]
    new = random.Random(5).randbytes(8 * 1024 * 1024)
    cluster = s3_target.cluster

    def body() -> Iterator[bytes]:
        for start in range(0, len(new), 256 * 1024):
            if start == len(new) // 2:
                cluster.stop_rgw(kill=True)  # the object store dies mid-upload
            yield new[start : start + 256 * 1024]

    try:
        failed = c.put(url, content=body(), headers={"Content-Length": str(len(new))})
        assert failed.status_code == 503, failed.text
        assert int(failed.headers["Retry-After"]) >= 1
        # the namespace still shows the old version (it lives in the database)
        listing = c.request("PROPFIND", url, headers={"Depth": "0"}, content=PROPFIND_BODY)
        assert listing.status_code == 207 and etag in listing.text
        # a read needs the store: also 503, never a partial or wrong body
        assert c.get(url).status_code == 503
        health = httpx.get(s3_server.url + "healthz", timeout=30)
        assert health.status_code == 503 and health.json()["checks"]["objects"] != "ok"
    finally:
        cluster.start_rgw()
    assert c.get(url).content == old  # old version intact
    health = httpx.get(s3_server.url + "healthz", timeout=30)
    assert health.status_code == 200 and health.json()["checks"]["objects"] == "ok"
    done = c.put(url, content=new, headers={"If-Match": etag})
    assert done.status_code == 204, done.text
    assert c.get(url).content == new
