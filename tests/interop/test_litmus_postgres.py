"""litmus, all five groups, against a server whose state (users, Digest nonces, locks, dead
properties) lives in PostgreSQL: the engine changes nothing a WebDAV client can see."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interop.postgres import Cluster
from tests.interop.test_litmus import GROUPS, run_litmus
from tests.support.configured import USERS, start_server
from tests.support.postgres import fresh_database
from tests.support.server import DavServer

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory, postgres: Cluster) -> Iterator[DavServer]:
    tmp: Path = tmp_path_factory.mktemp("litmus-pg")
    srv = start_server(tmp, f"state: {fresh_database(postgres)}\n")
    yield srv
    srv.stop()


def test_litmus_all_groups_with_state_on_postgresql(pg_server: DavServer) -> None:
    url = pg_server.files_url("alice", "litmus-pg/")
    auth = httpx.DigestAuth("alice", USERS["alice"])
    with httpx.Client(auth=auth, timeout=30) as client:
        assert client.request("MKCOL", url).status_code == 201
    out, results = run_litmus(url, "alice", USERS["alice"], GROUPS)
    assert set(results) == set(GROUPS), out
    for group, (run, passed) in results.items():
        assert run > 0 and run == passed, f"{group}: {passed}/{run}\n{out}"
    assert "WARNING" not in out, out
