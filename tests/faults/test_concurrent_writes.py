"""Concurrent writers to one path: every commit is atomic (the stored file is exactly one of
the bodies sent, never a mix or a truncation), the last writer wins or gets 412 with If-Match,
readers never see a partial file, and the ETag changes with every content change."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import client, sha256, stored_sha256
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

WRITERS = 8
SIZE = 256 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = start_server(
        tmp_path_factory.mktemp("concurrent"),
        "reserve_bytes: 0\nserver: {threads: 16}\nlimits: {max_requests_per_user: 32}\n",
        {"alice": USERS["alice"]},
    )
    yield server
    server.stop()


def _bodies(tag: str) -> list[bytes]:
    return [(f"{tag}-writer-{i}-".encode() * (SIZE // 16))[:SIZE] for i in range(WRITERS)]


def _race(
    url: str, bodies: list[bytes], headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """PUT every body at once (one client per writer, released together)."""
    barrier = threading.Barrier(len(bodies))
    results: list[httpx.Response | None] = [None] * len(bodies)

    def put(i: int) -> None:
        with client() as c:
            c.request("PROPFIND", url.rsplit("/", 1)[0] + "/", headers={"Depth": "0"})
            barrier.wait(30)
            results[i] = c.put(url, content=bodies[i], headers=headers or {})

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _disk(srv: DavServer, name: str) -> bytes:
    return (Path(srv.root) / "files" / "alice" / name).read_bytes()


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_puts_store_exactly_one_body(srv: DavServer, round_: int) -> None:
    url = srv.files_url("alice", f"race-{round_}.bin")
    bodies = _bodies(f"r{round_}")
    responses = _race(url, bodies)
    assert all(r.status_code in (201, 204) for r in responses)
    with client() as c:
        stored = c.get(url).content
        etag = c.head(url).headers["ETag"]
        reported = stored_sha256(c, url)
    assert stored in bodies, "the stored file is not one of the bodies sent"
    assert sha256(stored) == reported == sha256(_disk(srv, f"race-{round_}.bin"))
    winners = [i for i, r in enumerate(responses) if r.headers.get("ETag") == etag]
    assert len(winners) == 1 and bodies[winners[0]] == stored


def test_if_match_race_has_one_winner(srv: DavServer) -> None:
    url = srv.files_url("alice", "guarded.bin")
    with client() as c:
        assert c.put(url, content=b"base").status_code == 201
        etag = c.head(url).headers["ETag"]
    bodies = _bodies("guarded")
    responses = _race(url, bodies, {"If-Match": etag})
    codes = sorted(r.status_code for r in responses)
    assert codes == [204] + [412] * (WRITERS - 1), codes
    winner = next(i for i, r in enumerate(responses) if r.status_code == 204)
    with client() as c:
        assert c.get(url).content == bodies[winner]


def test_create_only_race_has_one_winner(srv: DavServer) -> None:
    url = srv.files_url("alice", "create-once.bin")
    bodies = _bodies("create")
    responses = _race(url, bodies, {"If-None-Match": "*"})
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [412] * (WRITERS - 1), codes
    winner = next(i for i, r in enumerate(responses) if r.status_code == 201)
    with client() as c:
        assert c.get(url).content == bodies[winner]


def test_readers_never_see_a_partial_file(srv: DavServer) -> None:
    url = srv.files_url("alice", "read-while-write.bin")
    bodies = _bodies("rw")
    with client() as c:
        assert c.put(url, content=bodies[0]).status_code == 201
    stop = threading.Event()
    seen: list[bytes] = []

    def read() -> None:
        with client() as c:
            for _ in range(200):
                if stop.is_set():
                    return
                seen.append(c.get(url).content)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(2):
            _race(url, bodies)
    finally:
        stop.set()
        reader.join(60)
    assert seen and all(body in bodies for body in seen)


def test_etag_changes_on_every_same_size_rewrite(srv: DavServer) -> None:
    """Same size, within one second, even the same bytes: a new ETag each time (stock
    WsgiDAV keeps the ETag for a same-size rewrite in the same second)."""
    url = srv.files_url("alice", "etag.bin")
    etags = []
    with client() as c:
        for i in range(12):
            body = b"A" * 1000 if i % 3 == 0 else bytes([65 + i % 26]) * 1000
            assert c.put(url, content=body).status_code in (201, 204)
            etags.append(c.head(url).headers["ETag"])
    changed = [etags[i] != etags[i - 1] for i in range(1, len(etags))]
    assert all(changed), etags
