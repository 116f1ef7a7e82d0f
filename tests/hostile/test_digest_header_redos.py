"""A malformed Digest header cannot stall the server.

The Digest parameter expressions (WsgiDAV's, and the same ones in ``ThrottleGate``) backtrack
quadratically on a quoted value that is never closed and is full of commas. Python's
regular expressions hold the interpreter lock, so one unauthenticated request with a 60 KB
such header stopped every thread for about 4 s (another user's request waited 3.9 s), and a
few of them in a loop stopped the server. Such a header is now refused as malformed (401
with a fresh challenge) after a linear check.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.hostile.conftest import client
from tests.support import rawhttp
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

ATTACKERS = 3
VICTIM_MAX_S = 1.5


def _stall_attempt(server: DavServer, statuses: list[int]) -> None:
    u = urlsplit(server.url)
    header = 'Digest username="x", opaque="' + "," * 60_000
    request = (
        f"PROPFIND /remote.php/dav/files/alice/ HTTP/1.1\r\nHost: {u.netloc}\r\n"
        f"Depth: 0\r\nAuthorization: {header}\r\n\r\n"
    ).encode()
    statuses.append(rawhttp.exchange(server.url, request, timeout=60).status)


def test_unclosed_digest_value_full_of_commas(hostile: DavServer) -> None:
    statuses: list[int] = []
    attackers = [
        threading.Thread(target=_stall_attempt, args=(hostile, statuses)) for _ in range(ATTACKERS)
    ]
    with client("bob") as bob:
        url = hostile.files_url("bob")
        assert bob.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 207
        for t in attackers:
            t.start()
        waits = []
        for _ in range(4):
            started = time.monotonic()
            r = bob.request("PROPFIND", url, headers={"Depth": "0"})
            waits.append(time.monotonic() - started)
            assert r.status_code == 207
            time.sleep(0.1)
    for t in attackers:
        t.join(120)
    assert max(waits) < VICTIM_MAX_S, f"bob waited {max(waits):.1f} s"
    assert statuses == [401] * ATTACKERS


def test_well_formed_digest_with_commas_in_values_still_logs_in(hostile: DavServer) -> None:
    """A quoted value with commas (a file name in ``uri``) is still accepted."""
    with client("alice") as alice:
        url = hostile.files_url("alice", "comma,separated,name.txt")
        assert alice.put(url, content=b"x").status_code in (201, 204)
        assert alice.get(url).content == b"x"
