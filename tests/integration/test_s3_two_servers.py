"""Two real ``davserver`` processes sharing one PostgreSQL state database and one S3 bucket
(Ceph radosgw), each with its own local state folder: a chunked upload session begun on one
server is finished on the other (the chunk bytes travel through the object store), and each
server sees what the other wrote."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.conftest import CONFIG, PASSWORDS, digest_client
from tests.support.ceph import S3Target, s3_config
from tests.support.server import DavServer, add_user

pytestmark = [pytest.mark.integration, pytest.mark.s3]

OC_ID = "{http://owncloud.org/ns}id"


@pytest.fixture()
def two_servers(
    tmp_path: Path, s3_target: S3Target, postgres_url: str
) -> Iterator[tuple[DavServer, DavServer]]:
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG + s3_config(s3_target, tmp_path / "creds") + f"state: {postgres_url}\n",
        encoding="utf-8",
    )
    for user, password in PASSWORDS.items():
        add_user(tmp_path / "a", user, password, config=config)
    servers: list[DavServer] = []
    try:
        for name in ("a", "b"):  # separate roots: separate local state and chunk folders
            servers.append(DavServer(tmp_path / name, ["--config", str(config)]).start())
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def _oc_id(client: httpx.Client, url: str) -> str:
    body = '<propfind xmlns="DAV:"><prop><id xmlns="http://owncloud.org/ns"/></prop></propfind>'
    found = client.request("PROPFIND", url, content=body, headers={"Depth": "0"})
    assert found.status_code == 207, found.text
    ids = [e.text or "" for e in ElementTree.fromstring(found.content).iter(OC_ID)]
    assert len(ids) == 1 and ids[0], found.text
    return ids[0]


def test_chunked_session_begun_on_one_server_finishes_on_the_other(
    two_servers: tuple[DavServer, DavServer],
) -> None:
    a, b = two_servers
    data = os.urandom(900_000)
    cuts = [(0, 299_999), (300_000, 599_999), (600_000, len(data) - 1)]
    with digest_client("alice") as c:
        session = "remote.php/dav/uploads/alice/s-shared/"
        assert c.request("MKCOL", a.url + session).status_code == 201
        for i, (start, end) in enumerate(cuts):
            server = a if i == 0 else b  # the first chunk lands on a, the rest on b
            url = f"{server.url}{session}{start:015d}-{end:015d}"
            r = c.put(url, content=data[start : end + 1])
            assert r.status_code == 201, r.text
        target = "remote.php/dav/files/alice/assembled.bin"
        sha1 = hashlib.sha1(data).hexdigest()
        r = c.request(
            "MOVE",
            b.url + session + ".file",
            headers={"Destination": b.url + target, "OC-Checksum": f"SHA1:{sha1}"},
        )
        assert r.status_code == 201, r.text
        assert c.get(a.url + target).content == data  # a sees what b assembled
        c.put(a.url + "remote.php/dav/files/alice/from-a.txt", content=b"written on a")
        assert c.get(b.url + "remote.php/dav/files/alice/from-a.txt").content == b"written on a"
        ids = [_oc_id(c, s.url + "remote.php/dav/files/alice/from-a.txt") for s in (a, b)]
        assert ids[0] == ids[1], ids  # one instance id (kept in PostgreSQL), one file id
        listing = c.request(
            "PROPFIND", b.url + "remote.php/dav/files/alice/", headers={"Depth": "1"}
        )
        assert listing.status_code == 207
        assert "assembled.bin" in listing.text and "from-a.txt" in listing.text
        assert httpx.codes.is_success(c.delete(b.url + target).status_code)
        assert c.get(a.url + target).status_code == 404
