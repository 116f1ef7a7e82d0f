"""Who gets in where, on the real server: credentials, homes, grants, Basic over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PASSWORDS, digest_client
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


def test_no_credentials_401_with_digest_challenge(server: DavServer) -> None:
    r = httpx.request("PROPFIND", server.files_url("alice"), headers={"Depth": "0"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Digest")


def test_wrong_password_401(server: DavServer) -> None:
    with digest_client("alice", "wrong") as c:
        assert c.get(server.files_url("alice")).status_code == 401


def test_basic_over_plain_http_refused(server: DavServer) -> None:
    r = httpx.get(server.files_url("alice"), auth=("alice", PASSWORDS["alice"]))
    assert r.status_code == 401


def test_basic_over_https_works(tls_server: DavServer, ca_file) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(auth=("alice", PASSWORDS["alice"]), verify=str(ca_file)) as c:
        r = c.request("PROPFIND", tls_server.files_url("alice"), headers={"Depth": "0"})
        assert r.status_code == 207


def test_other_users_home_forbidden(
    server: DavServer, alice: httpx.Client, bob: httpx.Client
) -> None:
    url = server.files_url("alice", "private.txt")
    assert alice.put(url, content=b"mine").status_code in (201, 204)
    assert bob.get(url).status_code == 403
    assert bob.put(url, content=b"theirs").status_code == 403
    assert (
        bob.request("PROPFIND", server.files_url("alice"), headers={"Depth": "1"}).status_code
        == 403
    )
    assert bob.request("DELETE", url).status_code == 403
    # destination in someone else's home
    own = server.files_url("bob", "b.txt")
    assert bob.put(own, content=b"b").status_code in (201, 204)
    r = bob.request("COPY", own, headers={"Destination": server.files_url("alice", "b.txt")})
    assert r.status_code == 403
    assert alice.get(url).content == b"mine"


def test_operator_grant_is_read_only(server: DavServer, alice: httpx.Client) -> None:
    url = server.files_url("alice", "report.txt")
    alice.put(url, content=b"report")
    with digest_client("oper") as oper:
        assert oper.get(url).content == b"report"
        assert oper.put(url, content=b"changed").status_code == 403
        copy = oper.request(
            "COPY", url, headers={"Destination": server.files_url("oper", "report-copy.txt")}
        )
        assert copy.status_code == 201
        assert oper.get(server.files_url("oper", "report-copy.txt")).content == b"report"
        move = oper.request(
            "MOVE", url, headers={"Destination": server.files_url("oper", "stolen.txt")}
        )
        assert move.status_code == 403
        listing = oper.request(
            "PROPFIND", server.url + "remote.php/dav/files/", headers={"Depth": "1"}
        )
        assert listing.status_code == 207
        assert "/files/alice/" in listing.text and "/files/bob/" in listing.text


def test_home_index_lists_only_own_home(server: DavServer, bob: httpx.Client) -> None:
    r = bob.request("PROPFIND", server.url + "dav/files/", headers={"Depth": "1"})
    assert r.status_code == 207
    assert "/files/bob/" in r.text and "/files/alice/" not in r.text


def test_options_on_root_for_explorer(server: DavServer, alice: httpx.Client) -> None:
    r = alice.options(server.url)
    assert r.status_code == 200
    assert "2" in [c.strip() for c in r.headers["DAV"].split(",")]
    share = alice.options(server.files_url("alice"))
    for response in (r, share):
        features = [c.strip() for c in response.headers["DAV"].split(",")]
        assert {"1", "2", "davsync-inventory", "davsync-uploads"} <= set(features)
        assert len(features) == len(set(features))
    assert r.headers["MS-Author-Via"] == "DAV"
    r = alice.request("PROPFIND", server.url, headers={"Depth": "1"})
    assert r.status_code == 207


@pytest.mark.parametrize(
    "path",
    ["", "remote.php", "remote.php/dav", "remote.php/dav/files", "dav", "dav/files", "dav/files/"],
)
def test_options_above_the_shares_advertise_what_the_shares_do(
    server: DavServer, alice: httpx.Client, path: str
) -> None:
    share = alice.options(server.files_url("alice"))
    r = alice.options(server.url + path)
    assert r.status_code == 200
    classes = {c.strip() for c in r.headers["DAV"].split(",")}
    assert classes == {c.strip() for c in share.headers["DAV"].split(",")}
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"OPTIONS", "PROPFIND", "LOCK", "UNLOCK"} <= allow
    assert r.headers["MS-Author-Via"] == "DAV"


def test_head_error_has_no_body_and_keeps_connection_usable(
    server: DavServer, bob: httpx.Client, alice: httpx.Client
) -> None:
    url = server.files_url("alice", "head-probe.txt")
    alice.put(url, content=b"x")
    for _ in range(3):  # the same keep-alive connection, again and again
        r = bob.head(url)
        assert r.status_code == 403 and r.content == b""
        assert bob.head(server.files_url("bob", "missing.txt")).status_code == 404
        propfind = bob.request("PROPFIND", server.files_url("bob"), headers={"Depth": "0"})
        assert propfind.status_code == 207
