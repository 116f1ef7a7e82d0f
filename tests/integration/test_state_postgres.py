"""Two real ``davserver`` processes with ``state: postgresql://...`` share users, Digest
nonces, locks and dead properties through PostgreSQL; a PostgreSQL restart between requests
costs nothing but the requests in flight; an unreachable PostgreSQL is a one-line start-up
error, and a password in the URL is never printed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

import httpx
import psycopg
import pytest

from davserver.dav.state_unavailable import state_failure
from interop.postgres import Cluster
from interop.tools import free_port
from providers import postgres as postgres_pools
from providers.postgres import POOL_MAX_CONNECTIONS, POOL_WAIT_S
from providers.statedb import open_db
from tests.support.configured import USERS, prepare_root, start_server
from tests.support.server import DavServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>node-a</D:owner></D:lockinfo>"
)
PROPPATCH = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">'
    b"<D:set><D:prop><Z:color>teal</Z:color></D:prop></D:set></D:propertyupdate>"
)
PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z">'
    b"<D:prop><Z:color/></D:prop></D:propfind>"
)
SECRET = "never-printed-7f3a"


def _with_password(url: str) -> str:
    return url.replace("postgresql://dav@", f"postgresql://dav:{SECRET}@")


@pytest.fixture
def two_nodes(tmp_path: Path, postgres_url: str) -> Iterator[tuple[DavServer, DavServer]]:
    """Two servers on one data folder whose state lives in one PostgreSQL database (the URL
    carries a password; the throwaway cluster trusts loopback, so any password works)."""
    # one user's 200 racing LOCKs: the per-user concurrency cap (429) is not what is tested
    config = f"state: {_with_password(postgres_url)}\nlimits:\n  max_requests_per_user: 1000\n"
    first = start_server(tmp_path, config)
    second = DavServer(first.root, ["--config", str(tmp_path / "config.yaml")]).start()
    yield first, second
    second.stop()
    first.stop()


def test_two_servers_share_users_nonces_locks_and_properties(
    two_nodes: tuple[DavServer, DavServer], postgres_url: str, postgres: Cluster
) -> None:
    a, b = two_nodes
    for node in (a, b):
        printed = "".join(node.output)
        assert SECRET not in printed
        assert f"State database: {postgres_url}" in printed
    auth = httpx.DigestAuth("alice", USERS["alice"])  # one auth: B sees the nonce A issued
    with httpx.Client(auth=auth, timeout=30) as client:
        url_a, url_b = a.files_url("alice", "shared.txt"), b.files_url("alice", "shared.txt")
        assert client.put(url_a, content=b"from node a").status_code == 201
        assert client.request("PROPPATCH", url_a, content=PROPPATCH).status_code == 207
        locked = client.request("LOCK", url_a, content=LOCKINFO, headers={"Depth": "0"})
        assert locked.status_code == 200
        token = locked.headers["Lock-Token"]

        found = client.request("PROPFIND", url_b, content=PROPFIND, headers={"Depth": "0"})
        assert found.status_code == 207 and b"teal" in found.content
        assert client.put(url_b, content=b"from node b").status_code == 423
        second_lock = client.request("LOCK", url_b, content=LOCKINFO, headers={"Depth": "0"})
        assert second_lock.status_code == 423
        discovery = client.request(
            "PROPFIND",
            url_b,
            headers={"Depth": "0"},
            content=b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
            b"<D:lockdiscovery/></D:prop></D:propfind>",
        )
        assert token.strip("<>").encode() in discovery.content

        postgres.restart()  # every pooled connection of both servers is cut
        after = client.request("PROPFIND", url_b, content=PROPFIND, headers={"Depth": "0"})
        assert after.status_code == 207 and b"teal" in after.content
        unlocked = client.request("UNLOCK", url_a, headers={"Lock-Token": token})
        assert unlocked.status_code == 204
        assert client.put(url_b, content=b"from node b").status_code == 204
        assert client.get(url_a).content == b"from node b"

    with psycopg.connect(postgres_url) as conn:  # the state really is in PostgreSQL
        users = conn.execute("SELECT name FROM users ORDER BY name").fetchall()
        props = conn.execute("SELECT COUNT(*) FROM dav_props").fetchone()
    assert [u[0] for u in users] == sorted(USERS) and props == (1,)


def test_postgres_down_is_503_with_retry_after_and_the_server_recovers(
    two_nodes: tuple[DavServer, DavServer], postgres: Cluster
) -> None:
    node = two_nodes[0]
    with httpx.Client(auth=httpx.DigestAuth("alice", USERS["alice"]), timeout=60) as client:
        url = node.files_url("alice", "down.txt")
        assert client.put(url, content=b"before").status_code == 201
        postgres.stop()
        try:
            refused = client.put(url, content=b"while down")
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "5"
        finally:
            postgres.start()
        assert client.get(url).content == b"before"  # nothing half-committed
        assert client.put(url, content=b"after").status_code == 204
    assert node.proc is not None and node.proc.poll() is None


def test_unreachable_postgres_is_a_one_line_startup_error(tmp_path: Path) -> None:
    url = f"postgresql://dav:{SECRET}@127.0.0.1:{free_port()}/dav"
    command = [sys.executable, "-m", "davserver.cli", "serve", "--root", str(tmp_path / "r")]
    proc = subprocess.run(
        [*command, "--port", "0", "--state", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: state database postgresql://dav@127.0.0.1:"
    )
    assert "unreachable" in lines[0] and SECRET not in proc.stderr + proc.stdout
    assert not (tmp_path / "r").exists()  # refused before anything was created


RACERS = 200


@pytest.mark.slow
def test_200_simultaneous_exclusive_locks_through_two_servers_grant_one(
    two_nodes: tuple[DavServer, DavServer],
) -> None:
    a, b = two_nodes
    clients = [
        httpx.Client(auth=httpx.DigestAuth("alice", USERS["alice"]), timeout=120)
        for _ in range(RACERS)
    ]
    urls = [(a, b)[i % 2].files_url("alice", "race.txt") for i in range(RACERS)]
    try:
        for client, url in zip(clients, urls, strict=True):  # log in first: the race is LOCK
            assert client.request("OPTIONS", url).status_code == 200
        barrier = threading.Barrier(RACERS)

        def race(i: int) -> int:
            barrier.wait(timeout=120)
            response = clients[i].request("LOCK", urls[i], content=LOCKINFO, headers={"Depth": "0"})
            return response.status_code

        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            codes = Counter(pool.map(race, range(RACERS)))
    finally:
        for client in clients:
            client.close()
    granted = codes[200] + codes[201]
    logs = [line for node in (a, b) for line in node.output if "WARNING" in line or "ERROR" in line]
    assert granted == 1 and codes[423] == RACERS - 1, (codes, logs[-20:])


OC_ID = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
    b'xmlns:oc="http://owncloud.org/ns"><D:prop><oc:id/></D:prop></D:propfind>'
)


OC_ID_TAG = "{http://owncloud.org/ns}id"


def _oc_id(client: httpx.Client, url: str) -> str:
    found = client.request("PROPFIND", url, content=OC_ID, headers={"Depth": "0"})
    assert found.status_code == 207, found.text
    ids = [e.text or "" for e in ElementTree.fromstring(found.content).iter(OC_ID_TAG)]
    assert len(ids) == 1, found.text
    return ids[0]


def test_servers_with_separate_state_folders_report_one_instance_id(
    tmp_path: Path, postgres_url: str
) -> None:
    """Each node has its own state folder (as on separate machines); the instance id lives in
    PostgreSQL, so every node reports the same one in ``oc:id`` and ``OC-FileId``. A node
    whose folder holds an ``instance_id`` file from its SQLite days seeds the database; a
    later node's differing file loses to the stored value."""
    config = f"state: {postgres_url}\n"
    root = prepare_root(tmp_path, config)
    folders = [tmp_path / "state-a", tmp_path / "state-b"]
    for folder, legacy in zip(folders, ("ocseeded0001", "ocother00002"), strict=True):
        folder.mkdir()
        (folder / "instance_id").write_text(legacy + "\n", encoding="utf-8")
    nodes: list[DavServer] = []
    try:
        for folder in folders:  # one after the other: the first one's file seeds the database
            args = ["--config", str(tmp_path / "config.yaml")]
            nodes.append(DavServer(root, args, env={"DAVSYNC_STATE_DIR": str(folder)}).start())
        with httpx.Client(auth=httpx.DigestAuth("alice", USERS["alice"]), timeout=30) as client:
            put = client.put(nodes[0].files_url("alice", "one.txt"), content=b"one file")
            assert put.status_code == 201
            ids = [_oc_id(client, node.files_url("alice", "one.txt")) for node in nodes]
    finally:
        for node in nodes:
            node.stop()
    # local storage keeps file ids per state folder (test_s3_two_servers compares whole ids)
    assert all(i.endswith("ocseeded0001") for i in [*ids, put.headers["OC-FileId"]]), ids
    with psycopg.connect(postgres_url) as conn:
        stored = conn.execute("SELECT value FROM instance_id").fetchall()
    assert stored == [("ocseeded0001",)]


def _wait_for_line(node: DavServer, text: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(text in line for line in list(node.output)):
        assert time.monotonic() < deadline, f"no {text!r} in: {node.output[-20:]}"
        time.sleep(0.1)


def test_collection_workers_log_one_warning_per_postgres_outage(
    tmp_path: Path, postgres_url: str, postgres: Cluster
) -> None:
    """The workers poll the queue every half second; an outage is one WARNING when it begins
    and one INFO when it ends, with no traceback in between."""
    node = start_server(tmp_path, f"state: {postgres_url}\n")
    try:
        postgres.stop()
        try:
            _wait_for_line(node, "collection jobs wait until it is back")
            time.sleep(3)  # a few more polls of both workers fail meanwhile
        finally:
            postgres.start()
        _wait_for_line(node, "collection jobs resume")
        time.sleep(1)  # more polls, now successful
    finally:
        node.stop()
    lines = list(node.output)
    down = [line for line in lines if "collection jobs wait until it is back" in line]
    back = [line for line in lines if "collection jobs resume" in line]
    assert len(down) == 1 and " WARNING state database postgresql://" in down[0], down
    assert len(back) == 1 and " INFO " in back[0], back
    noise = [line for line in lines if "Traceback" in line or "trigger queue" in line]
    assert not noise, lines


def test_an_exhausted_pool_is_a_state_failure_answered_503(postgres_url: str) -> None:
    """Each thread holds one pooled connection for its life: with every connection of the
    process's pool held, another thread waits ``POOL_WAIT_S`` and gets the error the server
    answers with 503 + Retry-After (as in the PostgreSQL-down test), then works once a holder
    ends."""
    db = open_db(postgres_url, "CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    db.close()  # this thread's connection back to the pool: the holders take all of them
    holding = threading.Barrier(POOL_MAX_CONNECTIONS + 1)
    release = threading.Event()

    def hold() -> None:
        deadline = time.monotonic() + 60
        while True:  # the pool opens its connections in the background: wait for one
            try:
                db.conn().execute("SELECT 1").fetchone()
                break
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
        holding.wait(timeout=90)
        release.wait(timeout=60)

    holders = [threading.Thread(target=hold) for _ in range(POOL_MAX_CONNECTIONS)]
    try:
        for thread in holders:
            thread.start()
        holding.wait(timeout=90)
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError) as failed:
            db.conn().execute("SELECT 1")
        waited = time.monotonic() - started
        assert state_failure(failed.value) is failed.value  # what StateUnavailable turns to 503
        assert POOL_WAIT_S - 0.5 <= waited < POOL_WAIT_S + 10, waited
        release.set()
        for thread in holders:
            thread.join(timeout=60)
        assert db.conn().execute("SELECT 1").fetchone() == (1,)
    finally:
        release.set()
        db.close()
        postgres_pools._shared_pool(postgres_url).pool.close()  # give the cluster its slots back
