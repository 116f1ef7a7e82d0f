"""Per-user areas on every method, Destination checks, and lock tokens usable only by their
owner, against the real server (alice's home; bob has no grant, oper may read every home,
carol may read and write alice's home)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hostile.conftest import client
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

LOCKINFO = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>"
)
PROPPATCH = (
    b'<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:p>v</Z:p>'
    b"</D:prop></D:set></D:propertyupdate>"
)


def _snapshot(home: Path) -> dict[str, str]:
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "d"
        for p in sorted(home.rglob("*"))
    }


@pytest.fixture()
def target(hostile: DavServer) -> Iterator[str]:
    """A folder with one file in alice's home; checks afterwards that nobody else changed it."""
    base = hostile.files_url("alice", "area/")
    with client("alice") as c:
        c.request("MKCOL", base)
        assert c.put(base + "doc.txt", content=b"alice's").status_code in (201, 204)
    home = hostile.root / "files" / "alice" / "area"
    before = _snapshot(home)
    yield base
    assert _snapshot(home) == before


def _all_methods(c: httpx.Client, base: str, server: DavServer, user: str) -> dict[str, int]:
    doc = base + "doc.txt"
    mine = server.files_url(user, "mine.txt")
    return {
        "GET": c.get(doc).status_code,
        "HEAD": c.head(doc).status_code,
        "GET inventory": c.get(base + "?inventory").status_code,
        "PUT new": c.put(base + "new.txt", content=b"x").status_code,
        "PUT over": c.put(doc, content=b"x").status_code,
        "DELETE": c.delete(doc).status_code,
        "MKCOL": c.request("MKCOL", base + "newdir").status_code,
        "PROPFIND 0": c.request("PROPFIND", doc, headers={"Depth": "0"}).status_code,
        "PROPFIND 1": c.request("PROPFIND", base, headers={"Depth": "1"}).status_code,
        "PROPPATCH": c.request("PROPPATCH", doc, content=PROPPATCH).status_code,
        "LOCK": c.request("LOCK", doc, content=LOCKINFO).status_code,
        "LOCK new": c.request("LOCK", base + "locknull.txt", content=LOCKINFO).status_code,
        "UNLOCK": c.request("UNLOCK", doc, headers={"Lock-Token": "<urn:uuid:x>"}).status_code,
        "PATCH": c.request("PATCH", doc, headers={"X-Recalculate-Hash": "sha1"}).status_code,
        "COPY out": c.request("COPY", doc, headers={"Destination": mine}).status_code,
        "MOVE out": c.request("MOVE", doc, headers={"Destination": mine}).status_code,
        "COPY in": c.request("COPY", mine, headers={"Destination": base + "in.txt"}).status_code,
        "MOVE in": c.request("MOVE", mine, headers={"Destination": base + "in.txt"}).status_code,
        "POST": c.post(doc, content=b"x").status_code,
        "OPTIONS": c.options(doc).status_code,
    }


def test_no_method_reaches_another_users_home(hostile: DavServer, target: str) -> None:
    with client("bob") as bob:
        assert bob.put(hostile.files_url("bob", "mine.txt"), content=b"bob").status_code in (
            201,
            204,
        )
        results = _all_methods(bob, target, hostile, "bob")
    allowed = {k: v for k, v in results.items() if v != 403}
    assert allowed == {}, allowed
    with client("bob") as bob:
        assert bob.get(hostile.files_url("bob", "mine.txt")).content == b"bob"


def test_read_grant_reads_and_never_writes(hostile: DavServer, target: str) -> None:
    """oper may read alice's home (and COPY out of it into a home oper may write, since COPY
    only reads its source); every method that could change alice's home is refused."""
    with client("oper") as oper:
        results = _all_methods(oper, target, hostile, "oper")
    reads = {"GET", "HEAD", "GET inventory", "PROPFIND 0", "PROPFIND 1", "OPTIONS", "COPY out"}
    assert {k: v for k, v in results.items() if k in reads and v >= 400} == {}
    assert {k: v for k, v in results.items() if k not in reads and v != 403} == {}


@pytest.mark.parametrize(
    "destination",
    [
        "{url}remote.php/dav/files/alice/area/stolen.txt",
        "{url}dav/files/alice/area/stolen.txt",
        "/remote.php/dav/files/alice/area/stolen.txt",
        "{url}remote.php/dav/files/ALICE/area/stolen.txt",
        "{url}remote.php/dav/files/bob/../alice/area/stolen.txt",
        "{url}remote.php/dav/files/bob/%2e%2e/alice/area/stolen.txt",
        "{url}remote.php/dav/files/bob%2F..%2Falice/area/stolen.txt",
        "http://evil.example/remote.php/dav/files/alice/area/stolen.txt",
        "{url}remote.php/dav/uploads/alice/stolen",
        "{url}remote.php/dav/files/",
        "{url}",
    ],
)
def test_destinations_outside_own_area_refused(
    hostile: DavServer, target: str, destination: str
) -> None:
    dest = destination.format(url=hostile.url)
    with client("bob") as bob:
        src = hostile.files_url("bob", "src.txt")
        assert bob.put(src, content=b"bob's").status_code in (201, 204)
        for method in ("COPY", "MOVE"):
            r = bob.request(method, src, headers={"Destination": dest})
            assert r.status_code in (400, 403, 404, 409, 502), (method, r.status_code)
        assert bob.get(src).content == b"bob's"
    assert not (hostile.root / "files" / "alice" / "area" / "stolen.txt").exists()


def test_destination_to_other_host_refused_even_with_forwarded_host(hostile: DavServer) -> None:
    with client("alice") as c:
        src = hostile.files_url("alice", "fh.txt")
        assert c.put(src, content=b"x").status_code in (201, 204)
        r = c.request(
            "COPY",
            src,
            headers={
                "Destination": "http://evil.example/remote.php/dav/files/alice/fh2.txt",
                "X-Forwarded-Host": "evil.example",
            },
        )
        assert r.status_code == 502
        assert c.get(hostile.files_url("alice", "fh2.txt")).status_code == 404


# --- lock tokens -------------------------------------------------------------------------------


def _token(r: httpx.Response) -> str:
    return r.headers["Lock-Token"].strip("<>")


@pytest.fixture()
def locked(hostile: DavServer) -> Iterator[tuple[str, str]]:
    """alice's file with alice's exclusive lock: (url, token); unlocked afterwards."""
    url = hostile.files_url("alice", "locked.txt")
    with client("alice") as c:
        assert c.put(url, content=b"v1").status_code in (201, 204)
        r = c.request("LOCK", url, headers={"Timeout": "Second-120"}, content=LOCKINFO)
        assert r.status_code == 200
        token = _token(r)
        yield url, token
        c.request("UNLOCK", url, headers={"Lock-Token": f"<{token}>"})
        assert c.get(url).content == b"v1"


def test_lock_token_of_another_user_is_useless(hostile: DavServer, locked: tuple[str, str]) -> None:
    url, token = locked
    with client("carol") as carol:  # carol may write alice's home, but the lock is alice's
        assert carol.put(url, content=b"carol").status_code == 423
        for header in (f"(<{token}>)", f"<{url}> (<{token}>)"):
            r = carol.put(url, content=b"carol", headers={"If": header})
            assert r.status_code in (412, 423), header
        assert carol.delete(url, headers={"If": f"(<{token}>)"}).status_code in (412, 423)
        moved = hostile.files_url("alice", "moved.txt")
        r = carol.request("MOVE", url, headers={"Destination": moved, "If": f"(<{token}>)"})
        assert r.status_code in (412, 423)
        r = carol.request("UNLOCK", url, headers={"Lock-Token": f"<{token}>"})
        assert r.status_code == 403
        r = carol.request("LOCK", url, headers={"If": f"(<{token}>)", "Timeout": "Second-600"})
        assert r.status_code == 403  # no refresh of somebody else's lock
    with client("bob") as bob:
        r = bob.request("UNLOCK", url, headers={"Lock-Token": f"<{token}>"})
        assert r.status_code == 403


def test_lock_binds_every_share(hostile: DavServer, locked: tuple[str, str]) -> None:
    url, token = locked
    other = url.replace("/remote.php/dav/", "/dav/")
    with client("alice") as c:
        assert c.put(other, content=b"x").status_code == 423
        assert c.delete(other).status_code == 423
        r = c.put(other, content=b"v1", headers={"If": f"(<{token}>)"})
        assert r.status_code == 204
        found = c.request("PROPFIND", other, headers={"Depth": "0"})
        assert token in found.text


def test_tagged_if_with_stale_etag_fails(hostile: DavServer) -> None:
    """A tagged If list with a stale entity tag must fail (WsgiDAV alone ignores tags that
    are absolute URLs, so the write would go through)."""
    url = hostile.files_url("alice", "tagged.txt")
    with client("alice") as c:
        assert c.put(url, content=b"one").status_code in (201, 204)
        etag = c.head(url).headers["ETag"]
        assert c.put(url, content=b"two").status_code == 204
        for tag in (url, url.replace("/remote.php/dav/", "/dav/")):
            r = c.put(url, content=b"lost update", headers={"If": f"<{tag}> ([{etag}])"})
            assert r.status_code == 412
        fresh = c.head(url).headers["ETag"]
        assert (
            c.put(url, content=b"three", headers={"If": f"<{url}> ([{fresh}])"}).status_code == 204
        )
        assert c.get(url).content == b"three"
        assert re.fullmatch(r'"[^"]+"', fresh)
