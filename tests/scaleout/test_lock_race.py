"""200 simultaneous exclusive LOCKs on one path, half sent to each node: exactly one is
granted (the check and the insert happen under one mutex in the shared state), the others
get 423 Locked, and the one lock is what both nodes report."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from interop.cluster import Cluster
from tests.scaleout.conftest import USER, node_client

pytestmark = [pytest.mark.scaleout, pytest.mark.slow]

RACERS = 200
LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>race</D:owner></D:lockinfo>"
)


def _race(urls: list[str], clients: list[httpx.Client]) -> list[int]:
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = [0] * len(clients)

    def run(i: int) -> None:
        barrier.wait(timeout=120)
        r = clients[i].request("LOCK", urls[i], content=LOCKINFO, headers={"Depth": "0"})
        statuses[i] = r.status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a LOCK never returned"
    return statuses


def test_200_simultaneous_exclusive_locks_across_two_nodes_grant_one(
    cluster_up: Cluster,
) -> None:
    name = f"race-{uuid.uuid4().hex[:8]}.txt"
    bases = [node.url for node in cluster_up.nodes[:2]]
    urls = [cluster_up.files_url(USER, name, bases[i % 2]) for i in range(RACERS)]
    clients = [node_client() for _ in range(RACERS)]
    try:
        assert clients[0].put(urls[0], content=b"contended\n").status_code == 201
        # authenticate first, so that each LOCK goes out at once with a known nonce
        with ThreadPoolExecutor(max_workers=16) as pool:
            heads = list(
                pool.map(lambda cu: cu[0].head(cu[1]).status_code, zip(clients, urls, strict=True))
            )
        assert heads == [200] * RACERS
        statuses = _race(urls, clients)
        counts = Counter(statuses)
        assert counts[200] == 1, counts
        assert counts[423] == RACERS - 1, counts
        for base in bases:
            r = clients[0].request(
                "PROPFIND", cluster_up.files_url(USER, name, base), headers={"Depth": "0"}
            )
            assert r.status_code == 207 and r.text.count("<D:activelock>") == 1, r.text
    finally:
        for client in clients:
            client.close()
