"""tus 1.0 over HTTP: tuspy uploading in parts with interruptions, and every error status."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tusclient import client as tus_client

from tests.support.server import DavServer
from tests.support.uploads import basic, client, start_server

pytestmark = pytest.mark.integration

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = start_server(tmp_path_factory.mktemp("tus"))
    yield server
    server.stop()


@pytest.fixture()
def alice() -> Iterator[httpx.Client]:
    with client("alice") as c:
        yield c


@pytest.fixture()
def folder(alice: httpx.Client, srv: DavServer) -> str:
    url = srv.files_url("alice", f"tus-{uuid.uuid4().hex[:8]}/")
    assert alice.request("MKCOL", url).status_code == 201
    return url


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(c: httpx.Client, folder: str, length: int, name: str = "f.bin", **headers: str) -> str:
    r = c.post(
        folder,
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": meta(filename=name),
            **headers,
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["tus-resumable"] == "1.0.0"
    assert ("upload-expires" in r.headers) == (length > 0)
    return r.headers["location"]


def patch(c: httpx.Client, url: str, offset: int, body: bytes, **headers: str) -> httpx.Response:
    return c.patch(
        url, content=body, headers={**TUS, **OCTETS, "Upload-Offset": str(offset), **headers}
    )


def head_offset(c: httpx.Client, url: str) -> int:
    r = c.head(url, headers=TUS)
    assert r.status_code == 200, r.status_code
    return int(r.headers["upload-offset"])


def raw_partial_patch(url: str, offset: int, declared: int, sent: bytes) -> None:
    """A PATCH whose client dies after sending ``sent`` of ``declared`` bytes."""
    u = urlsplit(url)
    assert u.hostname and u.port
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        head = (
            f"PATCH {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: {basic('alice')}\r\n"
            f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
            f"Content-Type: application/offset+octet-stream\r\nContent-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode() + sent)


def test_tuspy_uploads_in_parts_and_resumes_at_server_offset(
    alice: httpx.Client, folder: str, tmp_path: Path
) -> None:
    data = os.urandom(1_500_000)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    headers = {"Authorization": basic("alice")}
    tc = tus_client.TusClient(folder, headers=headers)
    metadata = {"filename": "tuspy.bin", "mtime": "1600000000"}
    first = tc.uploader(str(source), chunk_size=200_000, metadata=metadata, upload_checksum=True)
    first.upload(stop_at=600_000)
    url = first.url
    assert url and head_offset(alice, url) == 600_000
    assert alice.get(folder + "tuspy.bin").status_code == 404  # nothing visible yet

    raw_partial_patch(url, 600_000, 400_000, data[600_000:750_000])  # the link drops
    deadline = time.monotonic() + 20
    while head_offset(alice, url) == 600_000 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert head_offset(alice, url) == 750_000  # the bytes that arrived were kept

    resumed = tc.uploader(str(source), url=url, chunk_size=200_000, upload_checksum=True)
    assert resumed.offset == 750_000  # tuspy asked the server (HEAD)
    resumed.upload()
    got = alice.get(folder + "tuspy.bin")
    assert got.content == data
    assert got.headers["oc-checksum"] == "SHA1:" + hashlib.sha1(data).hexdigest()
    assert got.headers["last-modified"] == "Sun, 13 Sep 2020 12:26:40 GMT"
    done = alice.head(url, headers=TUS)
    assert done.headers["upload-offset"] == "1500000" and "upload-expires" not in done.headers


def test_options_advertises_tus(alice: httpx.Client, folder: str) -> None:
    r = alice.request("OPTIONS", folder)
    assert r.headers["tus-version"] == "1.0.0"
    assert set(r.headers["tus-extension"].split(",")) >= {
        "creation", "checksum", "termination", "expiration"}  # fmt: skip


def test_head_reports_state(alice: httpx.Client, folder: str) -> None:
    url = create(alice, folder, 10, "h.bin")
    assert patch(alice, url, 0, b"abc").status_code == 204
    r = alice.head(url, headers=TUS)
    assert r.status_code == 200
    assert r.headers["upload-offset"] == "3" and r.headers["upload-length"] == "10"
    assert r.headers["cache-control"] == "no-store" and "filename" in r.headers["upload-metadata"]
    assert "GMT" in r.headers["upload-expires"]


def test_creation_with_upload_and_zero_length(alice: httpx.Client, folder: str) -> None:
    r = alice.post(
        folder,
        content=b"hello",
        headers={**TUS, **OCTETS, "Upload-Length": "5", "Upload-Metadata": meta(filename="w.txt")},
    )
    assert r.status_code == 201 and r.headers["upload-offset"] == "5"
    assert alice.get(folder + "w.txt").content == b"hello"
    create(alice, folder, 0, "empty.dat")
    got = alice.get(folder + "empty.dat")
    assert got.status_code == 200 and got.content == b""


def test_termination(alice: httpx.Client, folder: str) -> None:
    url = create(alice, folder, 10, "gone.bin")
    patch(alice, url, 0, b"12345")
    assert alice.delete(url, headers=TUS).status_code == 204
    assert alice.head(url, headers=TUS).status_code == 404
    assert patch(alice, url, 5, b"67890").status_code == 404
    assert alice.get(folder + "gone.bin").status_code == 404


def test_offset_mismatch_409_with_current_offset(alice: httpx.Client, folder: str) -> None:
    url = create(alice, folder, 10)
    patch(alice, url, 0, b"12345")
    r = patch(alice, url, 3, b"xxxxx")
    assert r.status_code == 409 and r.headers["upload-offset"] == "5"
    assert head_offset(alice, url) == 5


def test_checksum_mismatch_460_drops_the_part(alice: httpx.Client, folder: str) -> None:
    url = create(alice, folder, 10, "sum.bin")
    wrong = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    r = patch(alice, url, 0, b"12345", **{"Upload-Checksum": wrong})
    assert r.status_code == 460
    assert head_offset(alice, url) == 0
    right = "sha1 " + base64.b64encode(hashlib.sha1(b"12345").digest()).decode()
    assert patch(alice, url, 0, b"12345", **{"Upload-Checksum": right}).status_code == 204
    r = patch(alice, url, 5, b"x", **{"Upload-Checksum": "crc32 AAAAAA=="})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Tus-Resumable": "0.2.2"}, 412),
        ({"Content-Type": "application/octet-stream"}, 415),
        ({"Upload-Offset": "abc"}, 400),
    ],
)
def test_bad_patch_headers(
    alice: httpx.Client, folder: str, headers: dict[str, str], status: int
) -> None:
    url = create(alice, folder, 10)
    base = {**TUS, **OCTETS, "Upload-Offset": "0"}
    r = alice.patch(url, content=b"abc", headers={**base, **headers})
    assert r.status_code == status, r.text
    if status == 412:
        assert r.headers["tus-version"] == "1.0.0"
    assert head_offset(alice, url) == 0


def test_body_past_upload_length_413(alice: httpx.Client, folder: str) -> None:
    url = create(alice, folder, 4)
    assert patch(alice, url, 0, b"12345").status_code == 413
    assert head_offset(alice, url) == 0


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Upload-Length": "5", "Upload-Metadata": meta(filename="a")}, 412),  # no Tus-Resumable
        ({**TUS, "Upload-Metadata": meta(filename="a")}, 400),
        ({**TUS, "Upload-Length": "5"}, 400),
        ({**TUS, "Upload-Length": "5", "Upload-Metadata": meta(filename="a/b")}, 400),
        ({**TUS, "Upload-Length": "5", "Upload-Metadata": meta(filename="..")}, 400),
        ({**TUS, "Upload-Defer-Length": "1", "Upload-Metadata": meta(filename="a")}, 400),
        ({**TUS, "Upload-Length": "-5", "Upload-Metadata": meta(filename="a")}, 400),
    ],
)
def test_bad_creation(
    alice: httpx.Client, folder: str, headers: dict[str, str], status: int
) -> None:
    if "Tus-Resumable" not in headers:
        r = alice.post(folder, headers={**headers, "Tus-Resumable": "0.2.2"})
    else:
        r = alice.post(folder, headers=headers)
    assert r.status_code == status, r.text


def test_creation_target_must_exist_and_be_yours(alice: httpx.Client, srv: DavServer) -> None:
    missing = srv.files_url("alice", "no-such-folder/")
    headers = {**TUS, "Upload-Length": "5", "Upload-Metadata": meta(filename="a")}
    assert alice.post(missing, headers=headers).status_code == 404
    assert alice.post(srv.files_url("bob", ""), headers=headers).status_code == 403


def test_other_users_upload_forbidden(alice: httpx.Client, folder: str) -> None:
    url = create(alice, folder, 10)
    with client("bob") as bob:
        with client("bob") as once:  # a fresh connection: WsgiDAV's 403 to HEAD has a body
            assert once.head(url, headers=TUS).status_code == 403
        assert (
            bob.patch(
                url, content=b"x", headers={**TUS, **OCTETS, "Upload-Offset": "0"}
            ).status_code
            == 403
        )
        assert bob.delete(url, headers=TUS).status_code == 403
        own = url.replace("/uploads/alice/", "/uploads/bob/")
        assert bob.head(own, headers=TUS).status_code == 404
    unknown = url.rsplit("/", 1)[0] + "/tus-" + "0" * 32
    assert alice.head(unknown, headers=TUS).status_code == 404


def test_recalculate_hash_patch_still_routed(alice: httpx.Client, folder: str) -> None:
    assert alice.put(folder + "plain.txt", content=b"plain").status_code == 201
    r = alice.patch(folder + "plain.txt", headers={"X-Recalculate-Hash": "sha1"})
    assert r.status_code == 204
    assert r.headers["oc-checksum"] == "SHA1:" + hashlib.sha1(b"plain").hexdigest()
