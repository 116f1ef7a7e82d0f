"""Nextcloud-style chunked uploads over HTTP: the happy paths, every bad input, faults."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.server import DavServer
from tests.support.uploads import (
    basic,
    client,
    propfind_members,
    restart,
    start_server,
    uploads_url,
)

pytestmark = pytest.mark.integration

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = start_server(tmp_path_factory.mktemp("uploads"))
    yield server
    server.stop()


@pytest.fixture()
def alice() -> Iterator[httpx.Client]:
    with client("alice") as c:
        yield c


@pytest.fixture()
def bob() -> Iterator[httpx.Client]:
    with client("bob") as c:
        yield c


def new_session(c: httpx.Client, srv: DavServer, **headers: str) -> str:
    url = uploads_url(srv, "alice", f"s-{uuid.uuid4().hex[:12]}/")
    r = c.request("MKCOL", url, headers=headers)
    assert r.status_code == 201, r.text
    return url


def rng(start: int, end: int) -> str:
    return f"{start:015d}-{end:015d}"


def put_ranges(c: httpx.Client, session: str, data: bytes, size: int) -> list[str]:
    names = []
    for start in range(0, len(data), size):
        end = min(start + size, len(data)) - 1
        names.append(rng(start, end))
        r = c.put(session + names[-1], content=data[start : end + 1], headers=FORM)
        assert r.status_code == 201, r.text
    return names


def files(srv: DavServer, path: str) -> str:
    return srv.files_url("alice", path)


def move(c: httpx.Client, session: str, dest: str, **headers: str) -> httpx.Response:
    return c.request("MOVE", session + ".file", headers={"Destination": dest, **headers})


def dest_path(name: str) -> str:
    return f"up-{uuid.uuid4().hex[:8]}-{name}"


# --------------------------------------------------------------------------- happy paths


def test_v1_chunks_any_order_assemble_with_headers(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    data = os.urandom(700_000) + b"a=b&c=d%20&e"  # a form-looking tail must not be parsed
    cuts = [(0, 299_999), (300_000, 599_999), (600_000, len(data) - 1)]
    random.Random(7).shuffle(cuts)
    for start, end in cuts:
        r = alice.put(session + rng(start, end), content=data[start : end + 1], headers=FORM)
        assert r.status_code == 201 and r.headers["etag"]
    assert propfind_members(alice, session) == {rng(s, e): e - s + 1 for s, e in cuts}
    target = files(srv, dest_path("v1.bin"))
    sha1 = hashlib.sha1(data).hexdigest()
    r = move(alice, session, target, **{"OC-Checksum": f"SHA1:{sha1}", "X-OC-Mtime": "1600000000"})
    assert r.status_code == 201, r.text
    assert r.headers["x-oc-mtime"] == "accepted"
    assert r.headers["oc-checksum"] == f"SHA1:{sha1}"
    assert r.headers["etag"] == r.headers["oc-etag"] and r.headers["oc-fileid"]
    got = alice.get(target)
    assert got.content == data
    assert got.headers["last-modified"] == "Sun, 13 Sep 2020 12:26:40 GMT"
    assert got.headers["etag"] == r.headers["etag"]
    assert alice.request("PROPFIND", session, headers={"Depth": "0"}).status_code == 404


def test_replacing_existing_file_answers_204_and_keeps_file_id(
    alice: httpx.Client, srv: DavServer
) -> None:
    target = files(srv, dest_path("replace.bin"))
    first = alice.put(target, content=b"old version")
    assert first.status_code == 201
    session = new_session(alice, srv)
    put_ranges(alice, session, b"new version, longer", 7)
    r = move(alice, session, target)
    assert r.status_code == 204, r.text
    assert r.headers["oc-fileid"] == first.headers["oc-fileid"]
    assert alice.get(target).content == b"new version, longer"


def test_v2_numbered_chunks_natural_order(alice: httpx.Client, srv: DavServer) -> None:
    target = files(srv, dest_path("v2.bin"))
    parts = [bytes([i]) * (1000 + i) for i in range(1, 13)]
    total = str(sum(len(p) for p in parts))
    session = new_session(alice, srv, Destination=target, **{"OC-Total-Length": total})
    order = list(range(1, 13))
    random.Random(3).shuffle(order)
    for n in order:
        headers = {"Destination": target, "OC-Total-Length": total}
        assert alice.put(session + str(n), content=parts[n - 1], headers=headers).status_code == 201
    r = move(alice, session, target, **{"OC-Total-Length": total})
    assert r.status_code == 201, r.text
    assert alice.get(target).content == b"".join(parts)  # "10" after "9", not after "1"


def test_propfind_shows_what_to_resend(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    data = os.urandom(50_000)
    alice.put(session + rng(0, 19_999), content=data[:20_000])
    alice.put(session + rng(40_000, 49_999), content=data[40_000:])
    have = propfind_members(alice, session)
    assert have == {rng(0, 19_999): 20_000, rng(40_000, 49_999): 10_000}
    r = move(alice, session, files(srv, dest_path("gap.bin")))
    assert r.status_code == 400 and "bytes 20000-39999 are missing" in r.text
    alice.put(session + rng(20_000, 39_999), content=data[20_000:40_000])
    target = files(srv, dest_path("resumed.bin"))
    assert move(alice, session, target).status_code == 201
    assert alice.get(target).content == data


def test_repeated_move_after_success_is_success(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    put_ranges(alice, session, b"0123456789", 4)
    target = files(srv, dest_path("twice.bin"))
    assert move(alice, session, target).status_code == 201
    again = move(alice, session, target)
    assert again.status_code == 204, again.text
    elsewhere = move(alice, session, files(srv, dest_path("other.bin")))
    assert elsewhere.status_code == 409
    late = alice.put(session + rng(10, 11), content=b"xx")
    assert late.status_code == 409 and "already committed" in late.text
    assert alice.get(target).content == b"0123456789"


def test_delete_aborts_and_same_name_can_start_again(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    put_ranges(alice, session, b"abcdef", 3)
    assert alice.request("MKCOL", session).status_code == 405
    assert alice.delete(session).status_code == 204
    assert alice.request("PROPFIND", session, headers={"Depth": "1"}).status_code == 404
    assert move(alice, session, files(srv, dest_path("x"))).status_code == 404
    assert alice.delete(session).status_code == 404
    assert alice.request("MKCOL", session).status_code == 201


def test_single_chunk_can_be_deleted_and_resent(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    alice.put(session + rng(0, 3), content=b"bad!")
    assert alice.delete(session + rng(0, 3)).status_code == 204
    assert alice.put(session + rng(0, 3), content=b"good").status_code == 201
    assert alice.put(session + rng(0, 3), content=b"GOOD").status_code == 204  # same name
    target = files(srv, dest_path("resent"))
    assert move(alice, session, target).status_code == 201
    assert alice.get(target).content == b"GOOD"


def test_chunks_never_appear_in_files(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    name = session.rstrip("/").rsplit("/", 1)[-1]
    put_ranges(alice, session, b"secret", 6)
    assert name not in propfind_members(alice, srv.files_url("alice"))
    assert alice.get(srv.files_url("alice", name + "/" + rng(0, 5))).status_code == 404
    assert name in propfind_members(alice, uploads_url(srv, "alice"))
    assert list(propfind_members(alice, f"{srv.url}remote.php/dav/uploads/")) == ["alice"]


def test_dav_prefix_works_too(alice: httpx.Client, srv: DavServer) -> None:
    session = f"{srv.url}dav/uploads/alice/s-{uuid.uuid4().hex[:8]}/"
    assert alice.request("MKCOL", session).status_code == 201
    put_ranges(alice, session, b"short prefix", 5)
    target = f"{srv.url}dav/files/alice/{dest_path('dav.bin')}"
    assert move(alice, session, target).status_code == 201
    assert alice.get(target).content == b"short prefix"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "body", "headers", "status", "text"),
    [
        ("10-5", b"x", {}, 400, "end offset"),
        ("not-a-chunk", b"x", {}, 400, "byte offsets (end inclusive)"),
        (rng(0, 9), b"123", {}, 400, "names 10 bytes"),
        (rng(90, 109), b"y" * 20, {"OC-Total-Length": "100"}, 400, "outside"),
        (".file", b"x", {}, 403, "reserved"),
    ],
)
def test_bad_chunks_refused(
    alice: httpx.Client,
    srv: DavServer,
    name: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    text: str,
) -> None:
    session = new_session(alice, srv)
    r = alice.put(session + name, content=body, headers=headers)
    assert r.status_code == status and text in r.text, r.text
    assert propfind_members(alice, session) == {}


def test_overlap_and_mixed_names_refused(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    assert alice.put(session + rng(0, 9), content=b"0" * 10).status_code == 201
    r = alice.put(session + rng(5, 14), content=b"1" * 10)
    assert r.status_code == 409 and "overlaps" in r.text
    r = alice.put(session + "3", content=b"x")
    assert r.status_code == 400 and "not both" in r.text
    assert propfind_members(alice, session) == {rng(0, 9): 10}


def test_v2_rules(alice: httpx.Client, srv: DavServer) -> None:
    target = files(srv, dest_path("v2rules"))
    session = new_session(alice, srv, Destination=target)
    assert alice.put(session + "0", content=b"x").status_code == 400
    assert alice.put(session + rng(0, 0), content=b"x").status_code == 400
    other = {"Destination": files(srv, dest_path("elsewhere"))}
    assert alice.put(session + "1", content=b"x", headers=other).status_code == 400
    assert alice.put(session + "1", content=b"x").status_code == 201
    r = move(alice, session, files(srv, dest_path("elsewhere")))
    assert r.status_code == 400 and "Destination differs" in r.text


def test_total_that_does_not_add_up(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    put_ranges(alice, session, b"0123456789", 5)
    target = files(srv, dest_path("total"))
    r = move(alice, session, target, **{"OC-Total-Length": "11"})
    assert r.status_code == 400 and "do not sum up to 11 but to 10" in r.text
    assert alice.get(target).status_code == 404
    assert move(alice, session, target, **{"OC-Total-Length": "10"}).status_code == 201


def test_wrong_checksum_commits_nothing(alice: httpx.Client, srv: DavServer) -> None:
    target = files(srv, dest_path("checked"))
    assert alice.put(target, content=b"previous").status_code == 201
    session = new_session(alice, srv)
    put_ranges(alice, session, b"replacement", 4)
    wrong = {"OC-Checksum": "SHA1:" + "0" * 40}
    r = move(alice, session, target, **wrong)
    assert r.status_code == 400 and "mismatch" in r.text
    assert alice.get(target).content == b"previous"
    assert len(propfind_members(alice, session)) == 3  # the client may fix and retry
    right = {"OC-Checksum": "SHA1:" + hashlib.sha1(b"replacement").hexdigest()}
    assert move(alice, session, target, **right).status_code == 204
    assert alice.get(target).content == b"replacement"


def test_unknown_session(alice: httpx.Client, srv: DavServer) -> None:
    session = uploads_url(srv, "alice", "never-created/")
    assert alice.put(session + rng(0, 0), content=b"x").status_code == 409
    assert move(alice, session, files(srv, "x")).status_code == 404
    assert alice.request("PROPFIND", session, headers={"Depth": "1"}).status_code == 404
    assert alice.delete(session).status_code == 404


def test_other_users_sessions(alice: httpx.Client, bob: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    put_ranges(alice, session, b"alice's bytes", 13)
    assert bob.request("PROPFIND", session, headers={"Depth": "1"}).status_code == 403
    assert bob.put(session + rng(13, 13), content=b"!").status_code == 403
    assert bob.delete(session).status_code == 403
    bobs_target = srv.files_url("bob", "stolen.bin")
    assert move(bob, session, bobs_target).status_code == 403
    assert (
        bob.request("PROPFIND", uploads_url(srv, "alice"), headers={"Depth": "1"}).status_code
        == 403
    )
    same_name = session.replace("/uploads/alice/", "/uploads/bob/")
    assert bob.request("PROPFIND", same_name, headers={"Depth": "1"}).status_code == 404
    assert move(bob, same_name, bobs_target).status_code == 404
    assert list(propfind_members(bob, f"{srv.url}remote.php/dav/uploads/")) == ["bob"]
    # alice may not assemble into a home she cannot write
    assert move(alice, session, srv.files_url("bob", "gift.bin")).status_code == 403
    mkcol = alice.request("MKCOL", uploads_url(srv, "alice", "v2-foreign/"), headers={
        "Destination": srv.files_url("bob", "gift.bin")})  # fmt: skip
    assert mkcol.status_code == 403
    assert bob.get(srv.files_url("bob", "gift.bin")).status_code == 404
    assert move(alice, session, files(srv, dest_path("mine"))).status_code == 201


def test_session_collection_and_file_cannot_be_misused(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    put_ranges(alice, session, b"abc", 3)
    r = alice.request("MOVE", session, headers={"Destination": files(srv, dest_path("dir"))})
    assert r.status_code == 403
    assert alice.get(session + ".file").status_code == 403
    assert alice.request("MKCOL", session + "sub/").status_code == 403
    r = alice.request("COPY", session + rng(0, 2), headers={"Destination": files(srv, "c")})
    assert r.status_code == 403
    assert alice.put(uploads_url(srv, "alice", "loose.bin"), content=b"x").status_code == 403


# --------------------------------------------------------------------------- faults


def raw_put_start(url: str, user: str, length: int, first_part: bytes) -> socket.socket:
    u = urlsplit(url)
    assert u.hostname and u.port
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    head = (
        f"PUT {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: {basic(user)}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode() + first_part)
    return sock


def test_client_gone_mid_chunk_leaves_no_chunk(alice: httpx.Client, srv: DavServer) -> None:
    session = new_session(alice, srv)
    sock = raw_put_start(session + rng(0, 99_999), "alice", 100_000, b"z" * 30_000)
    sock.close()
    time.sleep(0.5)
    assert propfind_members(alice, session) == {}


@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[list[DavServer]]:
    servers = [start_server(tmp_path, users=("alice",))]
    yield servers
    for s in servers:
        s.stop()


def test_server_killed_mid_chunk_then_resumed(own_server: list[DavServer]) -> None:
    srv = own_server[0]
    data = os.urandom(3_000_000)
    with client("alice") as c:
        session = new_session(c, srv)
        c.put(session + rng(0, 999_999), content=data[:1_000_000])
    sock = raw_put_start(
        session + rng(1_000_000, 2_999_999), "alice", 2_000_000, data[1_000_000:1_500_000]
    )
    time.sleep(0.5)  # the server is streaming the chunk into its staging file
    srv.kill()
    sock.close()
    own_server.append(restart(srv))
    srv = own_server[-1]
    session = uploads_url(srv, "alice", session.rstrip("/").rsplit("/", 1)[-1] + "/")
    with client("alice") as c:
        assert propfind_members(c, session) == {rng(0, 999_999): 1_000_000}
        assert (
            c.put(session + rng(1_000_000, 2_999_999), content=data[1_000_000:]).status_code == 201
        )
        target = srv.files_url("alice", "after-kill.bin")
        assert move(c, session, target).status_code == 201
        assert c.get(target).content == data


def test_server_killed_mid_assembly_keeps_old_file(own_server: list[DavServer]) -> None:
    srv = own_server[0]
    chunk = 8 * 1024 * 1024
    count = 8
    with client("alice") as c:
        target = srv.files_url("alice", "precious.bin")
        assert c.put(target, content=b"old and good").status_code == 201
        session = new_session(c, srv)
        block = os.urandom(chunk)
        for i in range(count):
            c.put(session + rng(i * chunk, (i + 1) * chunk - 1), content=block)
    staging = srv.root / ".davsync" / "staging"
    before = set(os.listdir(staging))

    def assemble() -> None:
        try:
            with client("alice") as c2:
                move(c2, session, target)
        except httpx.HTTPError:
            pass  # the server dies under it

    mover = threading.Thread(target=assemble, daemon=True)
    mover.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (set(os.listdir(staging)) - before):
        time.sleep(0.002)
    assert set(os.listdir(staging)) - before, "assembly never started"
    srv.kill()
    mover.join(timeout=30)
    own_server.append(restart(srv))
    srv = own_server[-1]
    target = srv.files_url("alice", "precious.bin")
    session = uploads_url(srv, "alice", session.rstrip("/").rsplit("/", 1)[-1] + "/")
    with client("alice") as c:
        assert c.get(target).content == b"old and good"
        assert len(propfind_members(c, session)) == count
        deadline = time.monotonic() + 90
        while True:  # 423 while the dead assembler's lease runs out, like rclone's retries
            r = move(c, session, target)
            if r.status_code != 423 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert r.status_code == 204, r.text
        got = c.get(target)
        assert len(got.content) == chunk * count and got.content[:chunk] == block
