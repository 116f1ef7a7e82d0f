"""A password spray from many addresses, each under the failed-login throttle, against the
default settings (16 workers): a logged-in user is still served promptly and the server's
memory stays bounded.

Every wrong Basic password costs an argon2 verification (64 MiB, a core for a fifth of a
second or more). Before password checks were bounded, 40 such requests at a time ran one in
every worker: the server grew by about 1 GB and a logged-in Digest client waited 10 to 23 s
for each request. Now at most a few different credentials are checked at once; the rest get
``503`` with ``Retry-After`` at once, without a check, and are not counted as failures.
"""

from __future__ import annotations

import base64
import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.conftest import client
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

SPRAYERS = 40
ATTACK_S = 12.0
VICTIM_MAX_S = 2.0  # each of the logged-in user's requests (unbounded checks: 10-23 s)
MAX_GROWTH_MB = 450  # argon2 buffers of the checks at once (unbounded: about 1 GB)
CONFIG = "auth: {basic_over_http: true}\nreserve_bytes: 0\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    """A plain-HTTP server with default ``server:`` and ``auth.throttle`` settings."""
    srv = start_server(tmp_path_factory.mktemp("spray"), CONFIG)
    yield srv
    srv.stop()


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class Spray:
    """``SPRAYERS`` threads sending one wrong Basic login per connection, each from the next
    of 5000 loopback addresses and for a new user name (so no throttle limit is reached)."""

    def __init__(self, server: DavServer) -> None:
        u = urlsplit(server.url)
        self.port = u.port or 0
        self.statuses: Counter[str] = Counter()
        self.retry_after = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next = itertools.count()
        self._threads = [threading.Thread(target=self._spray, daemon=True) for _ in range(SPRAYERS)]

    def __enter__(self) -> Spray:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(40)

    def _spray(self) -> None:
        deadline = time.monotonic() + ATTACK_S + 30
        while not self._stop.is_set() and time.monotonic() < deadline:
            k = next(self._next)
            source = f"127.1.{k // 250 % 20}.{k % 250 + 2}"
            token = base64.b64encode(f"spray{k}:wrong-{k}".encode()).decode()
            request = (
                f"PROPFIND /remote.php/dav/files/alice/ HTTP/1.1\r\nHost: x\r\nDepth: 0\r\n"
                f"Authorization: Basic {token}\r\nConnection: close\r\n\r\n"
            ).encode()
            try:
                with socket.create_connection(("127.0.0.1", self.port), 30, (source, 0)) as s:
                    s.sendall(request)
                    head = s.recv(4096)
            except OSError as exc:
                self._note(type(exc).__name__, b"")
                continue
            self._note(head[9:12].decode("latin-1") or "closed", head)

    def _note(self, status: str, head: bytes) -> None:
        with self._lock:
            self.statuses[status] += 1
            if b"\r\nRetry-After: 1\r\n" in head:
                self.retry_after += 1


def test_password_spray_leaves_workers_and_memory_for_logged_in_users(server: DavServer) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    with client("bob") as bob:
        url = server.files_url("bob")
        assert bob.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 207
        start_kb = peak_kb = _rss_kb(pid)
        waits: list[float] = []
        with Spray(server) as spray:
            time.sleep(2)
            ends = time.monotonic() + ATTACK_S - 2
            while time.monotonic() < ends:
                started = time.monotonic()
                r = bob.request("PROPFIND", url, headers={"Depth": "0"})
                waits.append(time.monotonic() - started)
                assert r.status_code == 207
                peak_kb = max(peak_kb, _rss_kb(pid))
                time.sleep(0.2)
        peak_kb = max(peak_kb, _rss_kb(pid))
    assert max(waits) < VICTIM_MAX_S, f"bob waited up to {max(waits):.1f} s: {spray.statuses}"
    growth_mb = (peak_kb - start_kb) / 1024
    assert growth_mb < MAX_GROWTH_MB, f"the server grew by {growth_mb:.0f} MB"
    assert set(spray.statuses) <= {"401", "503"}, spray.statuses
    assert spray.statuses["503"] == spray.retry_after
    # a new Basic login (a password check) succeeds once the spray is over
    with httpx.Client(auth=("alice", USERS["alice"]), timeout=30) as alice:
        r = alice.request("PROPFIND", server.files_url("alice"), headers={"Depth": "0"})
    assert r.status_code == 207
