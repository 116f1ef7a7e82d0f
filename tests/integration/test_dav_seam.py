"""What the dav seam adds to WsgiDAV, in-process: OPTIONS built from the extensions registry,
the commit headers of PUT and of chunk assembly, hash PATCH, and storage errors answered as
themselves."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from wsgidav.dav_error import DAVError

from davserver.app import App
from davserver.dav.provider import DavsyncDAVProvider
from davserver.dav.resources import FileResource
from davserver.http.environ import USER_KEY
from providers.base import Entry
from providers.errors import StorageIOError
from tests.support.inprocess import client_for, inprocess_app

pytestmark = pytest.mark.integration

FILES = "/remote.php/dav/files/alice/"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with inprocess_app(tmp_path) as built:
        yield built


@pytest.fixture
def alice(app: App) -> Iterator[httpx.Client]:
    with client_for(app, "alice") as client:
        yield client


def test_options_in_a_share_declares_the_registered_features_and_verbs(
    alice: httpx.Client,
) -> None:
    r = alice.options(FILES)
    assert r.status_code == 200
    dav = [v.strip() for v in r.headers["DAV"].split(",")]
    assert dav[:2] == ["1", "2"]
    assert dav[-3:] == ["nextcloud-checksum-update", "davsync-inventory", "davsync-uploads"]
    allow = [v.strip() for v in r.headers["Allow"].split(",")]
    assert {"PATCH", "POST", "PROPFIND", "LOCK"} <= set(allow)
    assert len(allow) == len(set(allow))
    assert r.headers["Tus-Version"] == "1.0.0"


def test_options_above_the_shares_keeps_its_own_allow(alice: httpx.Client) -> None:
    r = alice.options("/")
    assert r.headers["Allow"] == "OPTIONS, GET, HEAD, PROPFIND, LOCK, UNLOCK"
    assert "davsync-uploads" in r.headers["DAV"]


def test_put_answers_with_the_commit_headers(alice: httpx.Client) -> None:
    data = b"seam\n" * 100
    r = alice.put(FILES + "a.txt", content=data, headers={"X-OC-Mtime": "1700000000"})
    assert r.status_code == 201
    assert r.headers["OC-Checksum"] == f"SHA1:{hashlib.sha1(data).hexdigest()}"
    assert r.headers["ETag"] == r.headers["OC-ETag"]
    assert r.headers["X-OC-Mtime"] == "accepted"
    got = alice.request("PROPFIND", FILES + "a.txt", headers={"Depth": "0"})
    assert r.headers["OC-FileId"] in got.text


def test_chunk_assembly_answers_with_the_same_commit_headers(alice: httpx.Client) -> None:
    session = "/remote.php/dav/uploads/alice/s1/"
    assert alice.request("MKCOL", session).status_code == 201
    assert alice.put(session + "00001", content=b"abc").status_code == 201
    assert alice.put(session + "00002", content=b"def").status_code == 201
    dest = f"{alice.base_url}{FILES}joined.txt"
    r = alice.request("MOVE", session + ".file", headers={"Destination": dest})
    assert r.status_code == 201, r.text
    assert r.headers["OC-Checksum"] == f"SHA1:{hashlib.sha1(b'abcdef').hexdigest()}"
    assert r.headers["ETag"] == r.headers["OC-ETag"]
    assert r.headers["OC-FileId"]
    assert alice.get(FILES + "joined.txt").content == b"abcdef"


def test_hash_patch(alice: httpx.Client) -> None:
    alice.put(FILES + "h.txt", content=b"hash me")
    r = alice.patch(FILES + "h.txt", headers={"X-Recalculate-Hash": "SHA-256"})
    assert r.status_code == 204
    assert r.headers["OC-Checksum"] == f"SHA256:{hashlib.sha256(b'hash me').hexdigest()}"
    assert alice.patch(FILES + "h.txt").status_code == 405
    missing = alice.patch(FILES + "none.txt", headers={"X-Recalculate-Hash": "md5"})
    assert missing.status_code == 404
    folder = alice.patch(FILES, headers={"X-Recalculate-Hash": "md5"})
    assert folder.status_code == 405


def test_malformed_declared_digest_is_a_400_and_stores_nothing(alice: httpx.Client) -> None:
    r = alice.put(FILES + "bad.txt", content=b"x", headers={"OC-Checksum": "MD5:nothex"})
    assert r.status_code == 400
    assert alice.get(FILES + "bad.txt").status_code == 404


def test_a_storage_io_error_on_the_destination_is_not_taken_for_absence(
    app: App, alice: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COPY/MOVE onto a destination whose stat fails with an I/O error: the resource raises
    the 500 instead of taking the destination for a free name (and WsgiDAV answers 500,
    leaving the destination as it was)."""
    assert alice.put(FILES + "src.txt", content=b"new").status_code == 201
    assert alice.put(FILES + "dst.txt", content=b"old").status_code == 201
    provider = next(p for p in app.dav.provider_map.values() if isinstance(p, DavsyncDAVProvider))
    environ = {"REQUEST_METHOD": "COPY", USER_KEY: "alice", "wsgidav.provider": provider}
    res = provider.get_resource_inst("/files/alice/src.txt", environ)
    assert isinstance(res, FileResource)
    storage = app.context.storage
    real_stat = storage.stat

    def failing_stat(path: str) -> Entry:
        if path.endswith("dst.txt"):
            raise StorageIOError(f"cannot stat {path}: Input/output error")
        return real_stat(path)

    monkeypatch.setattr(storage, "stat", failing_stat)
    for attempt in (
        lambda: res.handle_copy("/files/alice/dst.txt", depth_infinity=False),
        lambda: res.handle_move("/files/alice/dst.txt"),
    ):
        with pytest.raises(DAVError) as info:
            attempt()
        assert info.value.value == 500
    r = alice.request(
        "COPY", FILES + "src.txt", headers={"Destination": f"{alice.base_url}{FILES}dst.txt"}
    )
    assert r.status_code == 500
    monkeypatch.undo()
    assert alice.get(FILES + "dst.txt").content == b"old"
