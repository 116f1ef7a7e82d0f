"""A captured Digest Authorization header cannot be replayed."""

from __future__ import annotations

import httpx
import pytest

from davserver.auth.nonces import NonceRegistry, digest_nonce_and_count
from tests.support.server import DavServer

pytestmark = pytest.mark.integration


class Recorder(httpx.DigestAuth):
    """Digest auth that remembers the last Authorization header it sent."""

    last: str = ""

    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def, override]
        flow = super().auth_flow(request)
        response = None
        while True:
            try:
                req = flow.send(response) if response is not None else next(flow)
            except StopIteration:
                return
            self.last = req.headers.get("Authorization", "")
            response = yield req


def test_replayed_digest_header_is_refused(server: DavServer) -> None:
    from tests.conftest import PASSWORDS

    url = server.files_url("alice", "replay-target.txt")
    auth = Recorder("alice", PASSWORDS["alice"])
    with httpx.Client(auth=auth) as c:
        assert c.put(url, content=b"original").status_code in (201, 204)
        captured = auth.last
        assert captured.startswith("Digest ")
        assert c.get(url).status_code == 200  # the client itself goes on working
    replay = httpx.put(url, content=b"attacker's bytes", headers={"Authorization": captured})
    assert replay.status_code == 401
    assert "stale=true" in replay.headers["WWW-Authenticate"]
    forged = captured.replace('nonce="', 'nonce="x')
    assert httpx.get(url, headers={"Authorization": forged}).status_code == 401
    with httpx.Client(auth=httpx.DigestAuth("alice", PASSWORDS["alice"])) as c:
        assert c.get(url).content == b"original"


def test_registry_counts_and_expiry() -> None:
    now = [0.0]
    reg = NonceRegistry(ttl_s=10, clock=lambda: now[0])
    assert not reg.accept("n1", 1)
    reg.issue("n1")
    assert reg.accept("n1", 1) and reg.accept("n1", 3) and reg.accept("n1", 2)
    assert not reg.accept("n1", 2)
    assert reg.accept("n1", None) and not reg.accept("n1", None)
    now[0] = 11
    assert not reg.accept("n1", 4)


def test_parse_nonce_and_count() -> None:
    h = 'Digest username="a", realm="r", nonce="abc", uri="/", qop=auth, nc=0000000a, cnonce="x"'
    assert digest_nonce_and_count(h) == ("abc", 10)
    assert digest_nonce_and_count('Digest username="a", nonce="abc", uri="/"') == ("abc", None)
    assert digest_nonce_and_count('Digest username="a"') is None
