"""X-Forwarded-* headers: ignored from anybody but a configured proxy (no spoofed client
address to dodge the login throttle, no claimed HTTPS to get Basic accepted), and honoured from
one (per-client throttling behind the proxy, TLS terminated at the proxy)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

THROTTLE = (
    "auth: {throttle: {max_failures: 3, address_max_failures: 3, window_s: 60, lockout_s: 60}}\n"
)
UNTRUSTED = THROTTLE + "server: {trusted_proxies: []}\n"
TRUSTED = THROTTLE + "server: {trusted_proxies: [127.0.0.1/32, '::1']}\n"


@pytest.fixture(scope="module")
def untrusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    srv = start_server(tmp_path_factory.mktemp("untrusted"), UNTRUSTED)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    srv = start_server(tmp_path_factory.mktemp("trusted"), TRUSTED)
    yield srv
    srv.stop()


def _propfind(url: str, user: str, password: str, headers: dict[str, str]) -> int:
    r = httpx.request(
        "PROPFIND",
        url,
        headers={"Depth": "0", **headers},
        auth=httpx.DigestAuth(user, password),
    )
    return r.status_code


def _basic(url: str, user: str, headers: dict[str, str]) -> int:
    r = httpx.request("PROPFIND", url, headers={"Depth": "0", **headers}, auth=(user, USERS[user]))
    return r.status_code


def test_spoofed_client_address_does_not_dodge_the_throttle(untrusted: DavServer) -> None:
    url = untrusted.files_url("bob")
    for i in range(3):
        fake = {"X-Forwarded-For": f"10.9.9.{i}", "X-Real-IP": f"10.9.9.{i}"}
        assert _propfind(url, "nosuchuser", "guess", fake) == 401
    fresh = {"X-Forwarded-For": "10.9.9.200", "Forwarded": "for=10.9.9.200"}
    assert _propfind(url, "bob", USERS["bob"], fresh) == 429


def test_claimed_https_does_not_enable_basic(untrusted: DavServer) -> None:
    url = untrusted.files_url("carol")
    assert _basic(url, "carol", {"X-Forwarded-Proto": "https"}) == 401


def test_trusted_proxy_tls_termination_enables_basic(trusted: DavServer) -> None:
    url = trusted.files_url("alice")
    assert (
        _basic(url, "alice", {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.1.1"}) == 207
    )
    assert _basic(url, "alice", {"X-Forwarded-For": "10.1.1.1"}) == 401


def test_trusted_proxy_throttles_per_client(trusted: DavServer) -> None:
    url = trusted.files_url("oper")
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(3):
        assert _propfind(url, "nosuchuser2", "guess", attacker) == 401
    assert _propfind(url, "oper", USERS["oper"], attacker) == 429
    neighbour = {"X-Forwarded-For": "198.51.100.8"}
    assert _propfind(url, "oper", USERS["oper"], neighbour) == 207
    # the proxy's own address is never taken as the client
    chain = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1"}
    assert _propfind(url, "oper", USERS["oper"], chain) == 429


def test_malformed_forwarded_headers_from_a_proxy_are_400(trusted: DavServer) -> None:
    url = trusted.files_url("alice")
    for headers in (
        {"X-Forwarded-For": "not-an-address"},
        {"X-Forwarded-Proto": "gopher"},
        {"X-Forwarded-Host": "bad host/with/slashes"},
    ):
        assert _propfind(url, "alice", USERS["alice"], headers) == 400, headers
