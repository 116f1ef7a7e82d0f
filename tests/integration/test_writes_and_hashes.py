"""PUT, hashes on every write path, verification of declared digests, mtimes."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil

import httpx
import pytest
from lxml import etree

pytestmark = pytest.mark.integration

OC = "http://owncloud.org/ns"
D = "DAV:"


def propfind(
    client: httpx.Client, url: str, body: str | None = None, depth: str = "0"
) -> etree._Element:
    r = client.request("PROPFIND", url, headers={"Depth": depth}, content=body)
    assert r.status_code == 207, r.text
    return etree.fromstring(r.content)


def checksums_of(client: httpx.Client, url: str) -> dict[str, str]:
    tree = propfind(client, url)
    text = tree.findtext(f".//{{{OC}}}checksum")
    assert text, etree.tostring(tree)
    return {k.lower(): v for k, v in (tok.split(":", 1) for tok in text.split())}


def expected(data: bytes) -> dict[str, str]:
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_put_get_roundtrip_with_all_hashes(alice: httpx.Client, folder: str) -> None:
    data = os.urandom(300_000)
    r = alice.put(folder + "a.bin", content=data)
    assert r.status_code == 201
    assert r.headers["OC-Checksum"] == "SHA1:" + hashlib.sha1(data).hexdigest()
    g = alice.get(folder + "a.bin")
    assert g.status_code == 200 and g.content == data
    assert g.headers["OC-Checksum"] == "SHA1:" + hashlib.sha1(data).hexdigest()
    b64 = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert g.headers["Repr-Digest"] == f"sha-256=:{b64}:"
    assert checksums_of(alice, folder + "a.bin") == expected(data)
    assert g.headers["ETag"] == r.headers["ETag"]


@pytest.mark.parametrize("path_kind", ["copy", "move"])
def test_copy_and_move_carry_hashes(alice: httpx.Client, folder: str, path_kind: str) -> None:
    data = b"copied content " * 1000
    alice.put(folder + "src.txt", content=data)
    method = path_kind.upper()
    r = alice.request(method, folder + "src.txt", headers={"Destination": folder + "dst.txt"})
    assert r.status_code == 201
    assert checksums_of(alice, folder + "dst.txt") == expected(data)
    assert alice.get(folder + "dst.txt").content == data


def test_overwrite_by_move_and_copy_is_atomic_and_204(alice: httpx.Client, folder: str) -> None:
    alice.put(folder + "old.txt", content=b"old")
    alice.put(folder + "new.txt", content=b"new!")
    r = alice.request("MOVE", folder + "new.txt", headers={"Destination": folder + "old.txt"})
    assert r.status_code == 204
    assert alice.get(folder + "old.txt").content == b"new!"
    assert alice.get(folder + "new.txt").status_code == 404
    assert checksums_of(alice, folder + "old.txt") == expected(b"new!")


@pytest.mark.parametrize(
    "header",
    [
        lambda d: {"OC-Checksum": "SHA1:" + hashlib.sha1(d).hexdigest()},
        lambda d: {"OC-Checksum": "MD5:" + hashlib.md5(d).hexdigest()},
        lambda d: {"Content-MD5": base64.b64encode(hashlib.md5(d).digest()).decode()},
        lambda d: {
            "Content-Digest": "sha-256=:"
            + base64.b64encode(hashlib.sha256(d).digest()).decode()
            + ":"
        },
        lambda d: {"Digest": "SHA-256=" + base64.b64encode(hashlib.sha256(d).digest()).decode()},
    ],
    ids=["oc-sha1", "oc-md5", "content-md5", "content-digest", "legacy-digest"],
)
def test_declared_digest_verified(alice: httpx.Client, folder: str, header) -> None:  # type: ignore[no-untyped-def]
    good = b"version one"
    assert alice.put(folder + "f.txt", content=good, headers=header(good)).status_code == 201
    bad_body = b"version two, corrupted in transit"
    r = alice.put(folder + "f.txt", content=bad_body, headers=header(b"version two"))
    assert r.status_code == 400
    assert "mismatch" in r.text.lower()
    assert alice.get(folder + "f.txt").content == good
    names = [e.text for e in propfind(alice, folder, depth="1").iter(f"{{{D}}}href")]
    assert len(names) == 2  # the folder and f.txt: no staging file ever shows


def test_malformed_digest_header_is_400(alice: httpx.Client, folder: str) -> None:
    r = alice.put(folder + "x", content=b"x", headers={"Content-MD5": "not base64!!"})
    assert r.status_code == 400
    assert alice.get(folder + "x").status_code == 404


def test_x_oc_mtime_accepted_and_etag_final(alice: httpx.Client, folder: str) -> None:
    r = alice.put(folder + "m.txt", content=b"mtime", headers={"X-OC-Mtime": "1600000000"})
    assert r.status_code == 201
    assert r.headers["X-OC-Mtime"] == "accepted"
    h = alice.head(folder + "m.txt")
    assert h.headers["ETag"] == r.headers["ETag"]
    assert h.headers["Last-Modified"] == "Sun, 13 Sep 2020 12:26:40 GMT"


def test_invalid_x_oc_mtime_is_400(alice: httpx.Client, folder: str) -> None:
    r = alice.put(folder + "m.txt", content=b"x", headers={"X-OC-Mtime": "yesterday"})
    assert r.status_code == 400


def test_move_with_x_oc_mtime(alice: httpx.Client, folder: str) -> None:
    alice.put(folder + "a.txt", content=b"a")
    r = alice.request(
        "MOVE",
        folder + "a.txt",
        headers={"Destination": folder + "b.txt", "X-OC-Mtime": "1500000000"},
    )
    assert r.status_code == 201 and r.headers.get("X-OC-Mtime") == "accepted"
    assert alice.head(folder + "b.txt").headers["Last-Modified"] == "Fri, 14 Jul 2017 02:40:00 GMT"


def test_proppatch_lastmodified_unix_seconds(alice: httpx.Client, folder: str) -> None:
    alice.put(folder + "p.txt", content=b"p")
    before = alice.head(folder + "p.txt").headers["ETag"]
    body = (
        '<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
        '<lastmodified xmlns="DAV:">1683356889</lastmodified></D:prop></D:set></D:propertyupdate>'
    )
    r = alice.request("PROPPATCH", folder + "p.txt", content=body)
    assert r.status_code == 207 and "200 OK" in r.text, r.text
    h = alice.head(folder + "p.txt")
    assert h.headers["Last-Modified"] == "Sat, 06 May 2023 07:08:09 GMT"
    assert h.headers["ETag"] != before


def test_proppatch_win32_props_namespaced(alice: httpx.Client, folder: str) -> None:
    alice.put(folder + "w.txt", content=b"w")
    body = (
        '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
        "<Z:Win32CreationTime>Thu, 09 Oct 2025 17:54:43 GMT</Z:Win32CreationTime>"
        "<Z:Win32LastAccessTime>Thu, 09 Oct 2025 17:55:31 GMT</Z:Win32LastAccessTime>"
        "<Z:Win32LastModifiedTime>Thu, 09 Oct 2025 17:54:43 GMT</Z:Win32LastModifiedTime>"
        "<Z:Win32FileAttributes>00000000</Z:Win32FileAttributes>"
        "</D:prop></D:set></D:propertyupdate>"
    )
    r = alice.request("PROPPATCH", folder + "w.txt", content=body)
    assert r.status_code == 207
    tree = etree.fromstring(r.content)
    ms = "urn:schemas-microsoft-com:"
    for name in (
        "Win32CreationTime",
        "Win32LastAccessTime",
        "Win32LastModifiedTime",
        "Win32FileAttributes",
    ):
        el = tree.find(f".//{{{ms}}}{name}")
        assert el is not None, r.text
        status = el.getparent().getparent().findtext(f"{{{D}}}status")
        assert "200" in status
    assert b"urn:schemas-microsoft-com:Win32" not in r.content.replace(b"xmlns:", b"")
    assert alice.head(folder + "w.txt").headers["Last-Modified"] == "Thu, 09 Oct 2025 17:54:43 GMT"


def test_patch_recalculate_hash(alice: httpx.Client, folder: str) -> None:
    alice.put(folder + "h.txt", content=b"hash me")
    for alg, fn in (("sha1", hashlib.sha1), ("md5", hashlib.md5), ("sha256", hashlib.sha256)):
        r = alice.patch(folder + "h.txt", headers={"X-Recalculate-Hash": alg})
        assert r.status_code == 204
        assert r.headers["OC-Checksum"] == f"{alg.upper()}:{fn(b'hash me').hexdigest()}"
    assert alice.patch(folder + "h.txt", headers={"X-Recalculate-Hash": "crc99"}).status_code == 400
    assert (
        alice.patch(folder + "nope.txt", headers={"X-Recalculate-Hash": "sha1"}).status_code == 404
    )


def test_same_size_rewrite_changes_etag(alice: httpx.Client, folder: str) -> None:
    e1 = alice.put(folder + "s.txt", content=b"AAAA", headers={"X-OC-Mtime": "1000"}).headers[
        "ETag"
    ]
    e2 = alice.put(folder + "s.txt", content=b"BBBB", headers={"X-OC-Mtime": "1000"}).headers[
        "ETag"
    ]
    assert e1 != e2
    assert alice.head(folder + "s.txt").headers["ETag"] == e2


def test_getetag_property_quoted_like_header(alice: httpx.Client, folder: str) -> None:
    alice.put(folder + "e.txt", content=b"e")
    tree = propfind(alice, folder + "e.txt")
    assert tree.findtext(f".//{{{D}}}getetag") == alice.head(folder + "e.txt").headers["ETag"]


def test_if_none_match_star_create_only(alice: httpx.Client, folder: str) -> None:
    assert (
        alice.put(folder + "c.txt", content=b"1", headers={"If-None-Match": "*"}).status_code == 201
    )
    assert (
        alice.put(folder + "c.txt", content=b"2", headers={"If-None-Match": "*"}).status_code == 412
    )
    assert alice.get(folder + "c.txt").content == b"1"


def test_if_match_put(alice: httpx.Client, folder: str) -> None:
    etag = alice.put(folder + "i.txt", content=b"1").headers["ETag"]
    assert (
        alice.put(folder + "i.txt", content=b"2", headers={"If-Match": '"nope"'}).status_code == 412
    )
    assert alice.put(folder + "i.txt", content=b"2", headers={"If-Match": etag}).status_code == 204
    assert alice.get(folder + "i.txt").content == b"2"


def test_quota_properties_on_home(alice: httpx.Client, server, folder: str) -> None:  # type: ignore[no-untyped-def]
    """quota-used-bytes is the size of the files below the collection (RFC 4331), and
    quota-available-bytes the free disk space (less the reserve)."""
    body = (
        '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
        "<D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>"
    )
    assert alice.put(folder + "a.bin", content=b"a" * 1000).status_code == 201
    assert alice.request("MKCOL", folder + "sub/").status_code == 201
    assert alice.put(folder + "sub/b.bin", content=b"b" * 2345).status_code == 201
    tree = propfind(alice, folder, body)
    assert int(tree.findtext(f".//{{{D}}}quota-used-bytes")) == 3345
    tree = propfind(alice, server.files_url("alice"), body)
    home = server.root / "files" / "alice"
    on_disk = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    assert int(tree.findtext(f".//{{{D}}}quota-used-bytes")) == on_disk
    available = int(tree.findtext(f".//{{{D}}}quota-available-bytes"))
    assert 0 < available <= shutil.disk_usage(home).free
