"""Requests of one upload spread over two nodes, and a node killed (SIGKILL) while it
commits: a Nextcloud chunk session started on node A is finished on node B; a node killed at
any moment of a commit (the MOVE that assembles a chunk session, or the end of a PUT) leaves
the old or the new version in the namespace, never a partial or dangling one, and the upload
completes through the other node."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import httpx
import pytest

from interop.cluster import Cluster, Node
from tests.scaleout.conftest import USER, node_client

pytestmark = [pytest.mark.scaleout, pytest.mark.slow]

MB = 1024 * 1024
CHUNK = 4 * MB
# How long before the SIGKILL each of the concurrent commits is sent: from "before the node
# read it" to "after it answered", so that some land in the middle of their commit.
KILL_DELAYS_S = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)
# A node killed while assembling leaves its assembly lease behind: another node refuses the
# session with 423 until the lease (15 s, renewed while a live node assembles) runs out.
LEASE_WAIT_S = 40.0


def uploads_url(base: str, rest: str = "") -> str:
    """URL below alice's uploads area on the node at ``base``."""
    return f"{base}remote.php/dav/uploads/{USER}/{rest}"


def chunk_name(start: int, end: int) -> str:
    return f"{start:015d}-{end:015d}"


def put_chunks(c: httpx.Client, session: str, data: bytes) -> None:
    for start in range(0, len(data), CHUNK):
        end = min(start + CHUNK, len(data)) - 1
        r = c.put(session + chunk_name(start, end), content=data[start : end + 1])
        assert r.status_code == 201, r.text


def propfind_members(c: httpx.Client, url: str) -> dict[str, int | None]:
    """Names of the members a Depth-1 PROPFIND of ``url`` lists, with their lengths."""
    r = c.request("PROPFIND", url, headers={"Depth": "1"})
    assert r.status_code == 207, (r.status_code, r.text)
    own = httpx.URL(url).path.rstrip("/")
    members: dict[str, int | None] = {}
    for response in ElementTree.fromstring(r.content).iter("{DAV:}response"):
        path = unquote(response.findtext("{DAV:}href", "")).rstrip("/")
        if path != own:
            length = response.findtext(".//{DAV:}getcontentlength")
            members[path.rsplit("/", 1)[-1]] = int(length) if length else None
    return members


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def ab(cluster_up: Cluster) -> Iterator[tuple[Node, Node, httpx.Client, httpx.Client]]:
    """Nodes A and B with a Digest client each."""
    a, b = cluster_up.nodes[:2]
    with node_client() as ca, node_client() as cb:
        yield a, b, ca, cb
    for node in (a, b):
        if not node.alive():
            node.start()


def test_chunk_session_started_on_one_node_is_finished_on_another(
    cluster_up: Cluster, ab: tuple[Node, Node, httpx.Client, httpx.Client]
) -> None:
    a, b, ca, cb = ab
    data = os.urandom(3 * CHUNK + 12345)
    session_a = uploads_url(a.url, f"s-{uuid.uuid4().hex[:12]}/")
    session_b = session_a.replace(a.url, b.url)
    assert ca.request("MKCOL", session_a).status_code == 201
    put_chunks(ca, session_a, data[: 2 * CHUNK])
    # the rest goes to B, which also lists what A received
    assert set(propfind_members(cb, session_b)) == {
        chunk_name(0, CHUNK - 1),
        chunk_name(CHUNK, 2 * CHUNK - 1),
    }
    rest = data[2 * CHUNK :]
    for start in range(0, len(rest), CHUNK):
        end = min(start + CHUNK, len(rest)) - 1
        name = chunk_name(2 * CHUNK + start, 2 * CHUNK + end)
        assert cb.put(session_b + name, content=rest[start : end + 1]).status_code == 201
    target = cluster_up.files_url(USER, f"across-{uuid.uuid4().hex[:8]}.bin", b.url)
    r = cb.request("MOVE", session_b + ".file", headers={"Destination": target})
    assert r.status_code == 201, r.text
    got = ca.get(target.replace(b.url, a.url))
    assert got.status_code == 200 and sha256(got.content) == sha256(data)
    assert ca.request("PROPFIND", session_a, headers={"Depth": "0"}).status_code == 404


def _send(c: httpx.Client, method: str, url: str, **kwargs: Any) -> int | None:
    """The status, or None when the connection died with the node."""
    try:
        return c.request(method, url, **kwargs).status_code
    except httpx.TransportError:
        return None


def _namespace_holds_one_of(
    c: httpx.Client, folder_url: str, name: str, versions: dict[str, bytes]
) -> str:
    """Which of ``versions`` (label -> bytes) ``name`` holds, read through ``c``; fails if it
    holds anything else or the folder lists anything but ``name``."""
    members = propfind_members(c, folder_url)
    assert set(members) == {name}, members
    got = c.get(folder_url + name)
    assert got.status_code == 200, got.text
    digest = sha256(got.content)
    matches = [label for label, data in versions.items() if sha256(data) == digest]
    assert matches, f"{name} holds {len(got.content)} bytes that are neither version"
    assert members[name] == len(got.content)
    return matches[0]


def _staggered(node: Node, requests: list[Callable[[], int | None]]) -> list[int | None]:
    """Run ``requests[i]`` starting ``KILL_DELAYS_S[i]`` seconds before ``node`` is killed
    (SIGKILL); returns their statuses (None: the connection died with the node)."""
    statuses: list[int | None] = [None] * len(requests)
    lead = max(KILL_DELAYS_S)

    def run(i: int) -> None:
        time.sleep(lead - KILL_DELAYS_S[i])
        statuses[i] = requests[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    time.sleep(lead)
    node.kill()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return statuses


def _new_folder(c: httpx.Client, cluster: Cluster, base: str, prefix: str) -> str:
    url = cluster.files_url(USER, f"{prefix}-{uuid.uuid4().hex[:8]}/", base)
    assert c.request("MKCOL", url).status_code == 201
    return url


def test_node_killed_mid_chunk_commits_leaves_old_or_new_and_b_finishes(
    cluster_up: Cluster, ab: tuple[Node, Node, httpx.Client, httpx.Client]
) -> None:
    a, b, ca, cb = ab
    count = len(KILL_DELAYS_S)
    olds = [os.urandom(CHUNK + i) for i in range(count)]
    news = [os.urandom(5 * CHUNK + 777 + i) for i in range(count)]
    folders_a = [_new_folder(ca, cluster_up, a.url, "commit") for _ in range(count)]
    sessions_a = [uploads_url(a.url, f"s-{uuid.uuid4().hex[:12]}/") for _ in range(count)]
    for folder, session, old, new in zip(folders_a, sessions_a, olds, news, strict=True):
        assert ca.put(folder + "f.bin", content=old).status_code == 201
        assert ca.request("MKCOL", session).status_code == 201
        put_chunks(ca, session, new)
    clients = [node_client() for _ in range(count)]  # one connection per commit
    for c, folder in zip(clients, folders_a, strict=True):
        assert c.head(folder + "f.bin").status_code == 200  # authenticated beforehand

    def commit(i: int) -> Callable[[], int | None]:
        dest = {"Destination": folders_a[i] + "f.bin"}
        return lambda: _send(clients[i], "MOVE", sessions_a[i] + ".file", headers=dest)

    statuses = _staggered(a, [commit(i) for i in range(count)])
    for c in clients:
        c.close()
    assert set(statuses) <= {None, 204} and None in statuses, statuses
    folders_b = [f.replace(a.url, b.url) for f in folders_a]
    for i, folder in enumerate(folders_b):
        seen = _namespace_holds_one_of(cb, folder, "f.bin", {"old": olds[i], "new": news[i]})
        assert seen == "new" or statuses[i] is None, (i, statuses)
    # every commit finishes (or is confirmed) through B, once a lease A left behind runs out
    deadline = time.monotonic() + LEASE_WAIT_S
    pending = set(range(count))
    while pending:
        for i in sorted(pending):
            session_b = sessions_a[i].replace(a.url, b.url)
            dest = {"Destination": folders_b[i] + "f.bin"}
            r = cb.request("MOVE", session_b + ".file", headers=dest)
            if r.status_code == 423 and time.monotonic() < deadline:
                assert "being assembled" in r.text, r.text
                continue
            assert r.status_code in (201, 204), r.text
            pending.discard(i)
        if pending:
            time.sleep(1.0)
    for i, folder in enumerate(folders_b):
        assert _namespace_holds_one_of(cb, folder, "f.bin", {"new": news[i]}) == "new"
    a.start()
    for i, folder in enumerate(folders_a):
        assert _namespace_holds_one_of(ca, folder, "f.bin", {"new": news[i]}) == "new"


def test_node_killed_at_the_end_of_puts_leaves_old_or_new(
    cluster_up: Cluster, ab: tuple[Node, Node, httpx.Client, httpx.Client]
) -> None:
    a, b, ca, cb = ab
    count = len(KILL_DELAYS_S)
    olds = [os.urandom(MB + i) for i in range(count)]
    news = [os.urandom(8 * MB + 9 + i) for i in range(count)]
    folders_a = [_new_folder(ca, cluster_up, a.url, "put") for _ in range(count)]
    clients = [node_client() for _ in range(count)]
    for c, folder, old in zip(clients, folders_a, olds, strict=True):
        assert c.put(folder + "f.bin", content=old).status_code == 201  # also authenticates

    def put(i: int) -> Callable[[], int | None]:
        return lambda: _send(clients[i], "PUT", folders_a[i] + "f.bin", content=news[i])

    statuses = _staggered(a, [put(i) for i in range(count)])
    for c in clients:
        c.close()
    assert set(statuses) <= {None, 204} and None in statuses, statuses
    folders_b = [f.replace(a.url, b.url) for f in folders_a]
    seen = []
    for i, folder in enumerate(folders_b):
        seen.append(_namespace_holds_one_of(cb, folder, "f.bin", {"old": olds[i], "new": news[i]}))
        assert seen[i] == "new" or statuses[i] is None, (i, statuses)
    a.start()
    for i, folder in enumerate(folders_a):
        versions = {"old": olds[i], "new": news[i]}
        assert _namespace_holds_one_of(ca, folder, "f.bin", versions) == seen[i]
