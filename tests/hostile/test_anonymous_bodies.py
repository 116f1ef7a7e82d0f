"""Requests that need no login (``/status.php``) cannot make the server read a body.

An anonymous PROPFIND, PROPPATCH, LOCK or REPORT had its XML body read before any handler
(up to ``limits.max_xml_body_bytes``), as slowly as the client sent it: twelve such requests
trickling one byte every half second held all eight workers of the hostile server, and
another user's request waited 29 s, until the attack stopped. Now they get 413 after their
head, and the body is never read.
"""

from __future__ import annotations

import time

import pytest

from tests.hostile.conftest import client
from tests.support import attacks
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

ATTACKERS = 12  # the hostile server has 8 workers
VICTIM_MAX_S = 2.0


@pytest.mark.parametrize("method", ["PROPFIND", "PROPPATCH", "LOCK", "REPORT"])
def test_trickled_anonymous_xml_bodies_are_refused(hostile: DavServer, method: str) -> None:
    target = attacks.Target.of(hostile.url)
    head = (
        f"{method} /status.php HTTP/1.1\r\nHost: {target.netloc}\r\n"
        "Content-Type: application/xml\r\nContent-Length: 10000\r\n\r\n<?xml"
    ).encode()
    attack = attacks.Attack(target, ATTACKERS, lambda i: head, lambda i: b" ", max_s=30)
    with client("bob") as bob, attacks.running(attack):
        url = hostile.files_url("bob")
        for _ in range(3):
            started = time.monotonic()
            r = bob.request("PROPFIND", url, headers={"Depth": "0"})
            waited = time.monotonic() - started
            assert r.status_code == 207
            assert waited < VICTIM_MAX_S, f"bob waited {waited:.1f} s: {attack.tally}"
            time.sleep(0.2)
    assert attack.tally.statuses.get(413, 0) >= ATTACKERS, attack.tally
    assert set(attack.tally.statuses) == {413}, attack.tally
