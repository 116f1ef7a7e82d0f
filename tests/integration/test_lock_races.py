"""LOCK under contention, with real clients on a real server: the loser of a race gets
423 Locked (never 412: no If header is sent), and a refused LOCK leaves nothing behind."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>race</D:owner></D:lockinfo>"
)
ROUNDS = 25
RACERS = 4
MAX_LOCKS = 3


@pytest.fixture(scope="module")
def lock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    tmp = tmp_path_factory.mktemp("lock-races")
    srv = start_server(tmp, f"limits:\n  max_locks_per_user: {MAX_LOCKS}\n")
    yield srv
    srv.stop()


def _client(user: str) -> httpx.Client:
    return httpx.Client(auth=httpx.DigestAuth(user, USERS[user]), timeout=30.0)


def _race(url: str, clients: list[httpx.Client]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(clients))
    results: list[httpx.Response | None] = [None] * len(clients)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = clients[i].request("LOCK", url, content=LOCKINFO, headers={"Depth": "0"})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _unlock(client: httpx.Client, url: str, response: httpx.Response) -> None:
    token = response.headers["Lock-Token"]
    assert client.request("UNLOCK", url, headers={"Lock-Token": token}).status_code == 204


@pytest.mark.parametrize("target", ["unmapped", "existing"])
def test_lock_race_losers_get_423(lock_server: DavServer, target: str) -> None:
    clients = [_client("alice") for _ in range(RACERS)]  # one connection per racer
    folder = lock_server.files_url("alice", f"race-{uuid.uuid4().hex[:8]}/")
    try:
        assert clients[0].request("MKCOL", folder).status_code == 201
        statuses: Counter[int] = Counter()
        for n in range(ROUNDS):
            url = f"{folder}f{n}.txt"
            if target == "existing":
                assert clients[0].put(url, content=b"x").status_code == 201
            results = _race(url, clients)
            codes = sorted(r.status_code for r in results)
            statuses.update(codes)
            winners = [r for r in results if r.status_code in (200, 201)]
            assert len(winners) == 1, codes
            assert codes.count(423) == RACERS - 1, codes
            _unlock(clients[0], url, winners[0])
        assert set(statuses) <= {200, 201, 423}, statuses
    finally:
        for c in clients:
            c.close()


def test_refused_lock_leaves_no_file(lock_server: DavServer, tmp_path: Path) -> None:
    with _client("alice") as alice:
        folder = lock_server.files_url("alice", f"quota-{uuid.uuid4().hex[:8]}/")
        assert alice.request("MKCOL", folder).status_code == 201
        granted = []
        for n in range(MAX_LOCKS):
            r = alice.request("LOCK", f"{folder}held{n}.txt", content=LOCKINFO)
            assert r.status_code == 201, r.text
            granted.append((f"{folder}held{n}.txt", r))
        refused = alice.request("LOCK", f"{folder}refused.txt", content=LOCKINFO)
        assert refused.status_code == 507
        assert alice.get(f"{folder}refused.txt").status_code == 404
        listing = alice.request("PROPFIND", folder, headers={"Depth": "1"})
        assert "refused.txt" not in listing.text and "held0.txt" in listing.text
        # a LOCK refused for a conflict leaves nothing either: a lock-null LOCK below a
        # folder locked with depth infinity, sent without the folder's lock token
        for url, response in granted:
            _unlock(alice, url, response)
        held = alice.request("LOCK", folder, content=LOCKINFO, headers={"Depth": "infinity"})
        assert held.status_code == 200, held.text
        below = alice.request("LOCK", f"{folder}below.txt", content=LOCKINFO)
        assert below.status_code == 423
        _unlock(alice, folder, held)
        assert alice.get(f"{folder}below.txt").status_code == 404
