"""The guards every small PUT passes, on a real server: locks (checked with one query per
ancestor walk) and the login throttle (one query per check, no write on a clean success)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

CONFIG = """\
grants:
  - {user: oper, homes: ["alice"], mode: read-write}
auth:
  basic_over_http: true
  throttle:
    max_failures: 3
    lockout_s: 600
"""
LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>guards</D:owner></D:lockinfo>"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    srv = start_server(tmp_path_factory.mktemp("guards"), CONFIG)
    yield srv
    srv.stop()


def _client(user: str, password: str | None = None) -> httpx.Client:
    return httpx.Client(auth=httpx.BasicAuth(user, password or USERS[user]), timeout=30.0)


def test_depth_infinity_lock_guards_every_descendant(server: DavServer) -> None:
    base = server.files_url("alice", "locked/")
    with _client("alice") as alice, _client("oper") as oper:
        assert alice.request("MKCOL", base).status_code == 201
        assert alice.request("MKCOL", base + "deep/").status_code == 201
        lock = alice.request("LOCK", base, content=LOCKINFO, headers={"Depth": "infinity"})
        assert lock.status_code == 200, lock.text
        token = lock.headers["Lock-Token"]
        try:
            child = base + "deep/new.bin"
            refused = oper.put(child, content=b"x" * 4096)
            assert refused.status_code == 423
            assert "/locked" in refused.text  # the conflicting lock's root is named
            assert alice.put(child, content=b"y").status_code == 423  # no token sent
            granted = alice.put(child, content=b"z", headers={"If": f"({token})"})
            assert granted.status_code == 201
            # the token is the owner's: another principal cannot use it
            assert oper.put(child, content=b"w", headers={"If": f"({token})"}).status_code in (
                412,
                423,
            )
            assert alice.get(child).content == b"z"
            # outside the locked tree nothing is refused
            assert oper.put(server.files_url("alice", "free.bin"), content=b"f").status_code in (
                201,
                204,
            )
        finally:
            alice.request("UNLOCK", base, headers={"Lock-Token": token})
        assert oper.put(base + "deep/new.bin", content=b"after").status_code == 204


def test_depth_zero_lock_on_a_folder_guards_its_membership_only(server: DavServer) -> None:
    base = server.files_url("alice", "zero/")
    with _client("alice") as alice, _client("oper") as oper:
        assert alice.request("MKCOL", base).status_code == 201
        assert alice.put(base + "member.bin", content=b"m").status_code == 201
        lock = alice.request("LOCK", base, content=LOCKINFO, headers={"Depth": "0"})
        assert lock.status_code == 200, lock.text
        try:
            # a new member changes the locked collection; an existing member's body does not
            assert oper.put(base + "new.bin", content=b"n").status_code == 423
            assert oper.put(base + "member.bin", content=b"o").status_code == 204
        finally:
            alice.request("UNLOCK", base, headers={"Lock-Token": lock.headers["Lock-Token"]})


def test_throttle_locks_out_and_a_success_clears_the_failures(server: DavServer) -> None:
    url = server.files_url("bob", "")
    with _client("bob") as good, _client("bob", "wrong") as bad:
        for _ in range(2):  # below max_failures (3)
            assert bad.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 401
        # a success clears the pair's failures ...
        assert good.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 207
        # ... so two more failures still do not lock the account out
        for _ in range(2):
            assert bad.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 401
        assert good.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 207
        # the third failure in a row does
        for _ in range(3):
            assert bad.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 401
        locked = good.request("PROPFIND", url, headers={"Depth": "0"})
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 0


def test_successes_alone_never_lock_out(server: DavServer) -> None:
    url = server.files_url("carol", "n.bin")
    with _client("carol") as carol:
        for _ in range(10):  # more successes than max_failures: nothing is counted
            assert carol.put(url, content=b"n").status_code in (201, 204)
