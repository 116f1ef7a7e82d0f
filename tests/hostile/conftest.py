"""One server for the hostile-input suite: Basic over loopback HTTP (so raw sockets can log
in), small limits so that they are reached quickly, short timeouts, and users alice, bob,
carol (read-write grant on alice's home) and oper (read grant on every home)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

HOSTILE_CONFIG = """\
auth:
  basic_over_http: true
  throttle: {max_failures: 1000, lockout_s: 1}
grants:
  - {user: carol, homes: [alice], mode: read-write}
  - {user: oper, homes: ["*"], mode: read}
limits:
  max_xml_body_bytes: 16384
  max_xml_depth: 32
  max_put_bytes: 1000000
  max_locks_per_user: 5
  max_lock_timeout_s: 600
  max_requests_per_user: 4
server:
  threads: 8
  timeout_s: 3
  header_timeout_s: 2
  max_request_headers: 50
reserve_bytes: 0
"""


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    """The hostile-suite server (see the module docstring)."""
    srv = start_server(tmp_path_factory.mktemp("hostile"), HOSTILE_CONFIG)
    yield srv
    srv.stop()


def client(user: str) -> httpx.Client:
    """A Digest client for ``user`` (cheap per request: no password hash to verify)."""
    return httpx.Client(auth=httpx.DigestAuth(user, USERS[user]), timeout=30.0)


@pytest.fixture()
def as_alice() -> Iterator[httpx.Client]:
    """alice's client."""
    with client("alice") as c:
        yield c


def files_below(root: Path) -> list[Path]:
    """Every file and directory under the server's ``files`` area."""
    return sorted((root / "files").rglob("*"))
