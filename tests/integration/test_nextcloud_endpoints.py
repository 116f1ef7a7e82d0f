"""What the Nextcloud/ownCloud desktop clients need beyond plain WebDAV, over real HTTP:
status.php, OCS capabilities and user, folder ETags that follow deep changes, oc:size,
oc:data-fingerprint, and OC-FileId/ETag on MKCOL, COPY and MOVE."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from tests.support.server import DavServer

pytestmark = pytest.mark.integration

OC = "http://owncloud.org/ns"
D = "DAV:"
PROPS = (
    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
    "<d:prop><d:getetag/><oc:size/><oc:id/><oc:data-fingerprint/></d:prop></d:propfind>"
)


def listing(client: httpx.Client, url: str, depth: str = "1") -> dict[str, dict[str, str]]:
    """href -> {prop local name: text} of the 200 propstats of a PROPFIND."""
    r = client.request("PROPFIND", url, headers={"Depth": depth}, content=PROPS)
    assert r.status_code == 207, r.text
    out: dict[str, dict[str, str]] = {}
    for response in etree.fromstring(r.content).iter(f"{{{D}}}response"):
        href = response.findtext(f"{{{D}}}href") or ""
        props: dict[str, str] = {}
        for propstat in response.iter(f"{{{D}}}propstat"):
            if "200" not in (propstat.findtext(f"{{{D}}}status") or ""):
                continue
            for prop in propstat.iterfind(f"{{{D}}}prop/*"):
                props[etree.QName(prop).localname] = prop.text or ""
        out[href.rstrip("/").rsplit("/", 1)[-1]] = props
    return out


def test_status_php_needs_no_credentials(server: DavServer) -> None:
    r = httpx.get(server.url + "status.php")
    assert r.status_code == 200
    body = r.json()
    assert body["installed"] is True and body["maintenance"] is False
    assert body["needsDbUpgrade"] is False and body["productname"] == "davsync"
    assert body["version"].count(".") == 3 and body["versionstring"]
    assert httpx.post(server.url + "status.php").status_code == 405


@pytest.mark.parametrize(("api", "code"), [("v1", 100), ("v2", 200)])
def test_capabilities_in_json(alice: httpx.Client, server: DavServer, api: str, code: int) -> None:
    r = alice.get(f"{server.url}ocs/{api}.php/cloud/capabilities?format=json")
    assert r.status_code == 200
    ocs = r.json()["ocs"]
    assert ocs["meta"]["status"] == "ok" and ocs["meta"]["statuscode"] == code
    caps = ocs["data"]["capabilities"]
    assert caps["dav"]["chunking"] == "1.0"
    assert "bulkupload" not in caps["dav"]
    assert set(caps["checksums"]["supportedTypes"]) == {"SHA1", "MD5", "SHA256"}
    assert caps["checksums"]["preferredUploadType"] == "SHA1"


def test_capabilities_in_xml(alice: httpx.Client, server: DavServer) -> None:
    r = alice.get(f"{server.url}ocs/v1.php/cloud/capabilities")
    assert r.status_code == 200 and "xml" in r.headers["content-type"]
    root = etree.fromstring(r.content)
    assert root.findtext("meta/statuscode") == "100"
    assert root.findtext("data/capabilities/dav/chunking") == "1.0"
    types = [e.text for e in root.findall("data/capabilities/checksums/supportedTypes/element")]
    assert "SHA1" in types


def test_ocs_needs_credentials(server: DavServer) -> None:
    assert httpx.get(f"{server.url}ocs/v1.php/cloud/capabilities").status_code == 401
    assert httpx.get(f"{server.url}ocs/v2.php/cloud/user").status_code == 401


def test_user_reports_id_and_quota(alice: httpx.Client, server: DavServer, folder: str) -> None:
    alice.put(folder + "q.bin", content=b"q" * 1000)
    r = alice.get(f"{server.url}ocs/v2.php/cloud/user?format=json")
    data = r.json()["ocs"]["data"]
    assert data["id"] == "alice" and data["display-name"] == "alice"
    assert data["quota"]["used"] >= 1000 and data["quota"]["free"] > 0
    assert data["quota"]["total"] == data["quota"]["used"] + data["quota"]["free"]


def test_deep_change_changes_every_ancestor_etag(alice: httpx.Client, folder: str) -> None:
    for sub in ("a/", "a/b/", "a/b/c/", "z/"):
        assert alice.request("MKCOL", folder + sub).status_code == 201
    alice.put(folder + "a/b/c/f.txt", content=b"one")
    before = listing(alice, folder)
    before_b = listing(alice, folder + "a/")["b"]["getetag"]
    assert alice.put(folder + "a/b/c/f.txt", content=b"two!").status_code == 204
    after = listing(alice, folder)
    top = folder.rstrip("/").rsplit("/", 1)[-1]
    assert after[top]["getetag"] != before[top]["getetag"]
    assert after["a"]["getetag"] != before["a"]["getetag"]
    assert after["z"]["getetag"] == before["z"]["getetag"]
    assert listing(alice, folder + "a/")["b"]["getetag"] != before_b
    assert after["a"]["size"] == "4" and after[top]["size"] == "4"


def test_data_fingerprint_only_on_the_users_root(
    alice: httpx.Client, server: DavServer, folder: str
) -> None:
    root = listing(alice, server.files_url("alice"), depth="0")
    assert next(iter(root.values()))["data-fingerprint"]
    below = listing(alice, folder, depth="0")
    assert "data-fingerprint" not in next(iter(below.values()))


def test_mkcol_copy_move_answer_with_file_id_and_etag(alice: httpx.Client, folder: str) -> None:
    made = alice.request("MKCOL", folder + "new/")
    assert made.status_code == 201
    props = listing(alice, folder + "new/", depth="0")["new"]
    assert made.headers["OC-FileId"] == props["id"]
    assert made.headers["ETag"] == props["getetag"]
    alice.put(folder + "new/x.txt", content=b"x")
    copied = alice.request("COPY", folder + "new/", headers={"Destination": folder + "copy/"})
    assert copied.status_code == 201
    assert copied.headers["OC-FileId"] == listing(alice, folder + "copy/", "0")["copy"]["id"]
    moved = alice.request("MOVE", folder + "new/", headers={"Destination": folder + "moved/"})
    assert moved.status_code == 201
    assert moved.headers["OC-FileId"] == made.headers["OC-FileId"]
    assert moved.headers["ETag"] == listing(alice, folder + "moved/", "0")["moved"]["getetag"]


def test_webdav_alias_is_the_users_home(
    alice: httpx.Client, server: DavServer, folder: str
) -> None:
    name = folder.rstrip("/").rsplit("/", 1)[-1]
    alias = f"{server.url}remote.php/webdav/{name}/"
    assert alice.put(alias + "via-alias.txt", content=b"alias").status_code == 201
    assert alice.get(folder + "via-alias.txt").content == b"alias"
    r = alice.request("PROPFIND", alias, headers={"Depth": "1"}, content=PROPS)
    assert r.status_code == 207
    hrefs = [e.text or "" for e in etree.fromstring(r.content).iter(f"{{{D}}}href")]
    assert sorted(hrefs) == [
        f"/remote.php/webdav/{name}/",
        f"/remote.php/webdav/{name}/via-alias.txt",
    ]
    moved = alice.request(
        "MOVE", alias + "via-alias.txt", headers={"Destination": alias + "moved.txt"}
    )
    assert moved.status_code == 201 and moved.headers["OC-FileId"]
    assert alice.get(folder + "moved.txt").content == b"alias"
    assert httpx.get(alias).status_code == 401
