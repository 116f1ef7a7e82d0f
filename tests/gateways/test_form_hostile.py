"""HTML form upload against a hostile client: malformed requests get a clear 4xx, never a
500, and store nothing (a real ``davserver serve``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.gateways.form_support import multipart
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

CONFIG = "auth: {basic_over_http: true, throttle: {max_failures: 50}}\n"
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = start_server(tmp_path_factory.mktemp("form-hostile"), CONFIG)
    yield server
    server.stop()


def _alice() -> httpx.Client:
    return httpx.Client(auth=("alice", USERS["alice"]), timeout=30)


def test_an_overlong_boundary_is_400_not_500(srv: DavServer) -> None:
    kind, body = multipart([("file", "long.txt", b"data")], boundary="b" * 1000)
    with _alice() as c:
        r = c.post(
            srv.files_url("alice", "lb/"), content=body, headers={"Content-Type": kind, **JSON}
        )
        assert r.status_code == 400, r.text
        assert "boundary" in r.json()["error"]
        assert c.get(srv.files_url("alice", "lb/long.txt")).status_code == 404
    assert not list(srv.root.rglob("form-*.part"))
