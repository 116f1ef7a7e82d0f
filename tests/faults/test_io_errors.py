"""I/O errors below the provider (EIO on write or fsync, injected by a test launcher around
the real CLI): the upload fails with a 5xx, the old version stays, staging is cleaned, and the
server keeps serving once the fault is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import client, sha256, staging_leftovers, stored_sha256
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DavServer, Path]]:
    tmp = tmp_path_factory.mktemp("faulty")
    control = tmp / "fault"
    srv = start_server(
        tmp,
        "reserve_bytes: 0\n",
        {"alice": USERS["alice"]},
        module="tests.support.faulty_serve",
        env={"DAVSYNC_FAULT_FILE": str(control)},
    )
    yield srv, control
    srv.stop()


@pytest.mark.parametrize(
    ("fault", "statuses"),
    [("write-eio", {500, 502, 503}), ("fsync-eio", {500, 502, 503}), ("write-enospc", {507})],
)
def test_fault_keeps_old_version(
    faulty: tuple[DavServer, Path], fault: str, statuses: set[int]
) -> None:
    srv, control = faulty
    url = srv.files_url("alice", f"victim-{fault}.bin")
    original = b"original " * 10_000
    with client() as c:
        assert c.put(url, content=original).status_code == 201
        control.write_text(fault, encoding="utf-8")
        try:
            r = c.put(url, content=b"replacement " * 20_000)
            assert r.status_code in statuses, (fault, r.status_code)
            assert c.get(url).content == original  # reads work during the fault
            new = c.put(srv.files_url("alice", f"new-{fault}.bin"), content=b"n" * 1000)
            assert new.status_code in statuses
        finally:
            control.unlink()
        assert c.get(url).content == original
        assert stored_sha256(c, url) == sha256(original)
        assert c.get(srv.files_url("alice", f"new-{fault}.bin")).status_code == 404
        assert staging_leftovers(srv.root) == []
        assert c.put(url, content=b"healed").status_code == 204
        assert c.get(url).content == b"healed"
