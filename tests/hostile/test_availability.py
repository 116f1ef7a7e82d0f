"""Availability under attack, at the sizes of the threat model, against default settings.

Each attack of ``tests.support.attacks`` runs (reconnecting when cut) while another user
keeps working; only that user's requests are timed, and each must answer in under
``VICTIM_MAX_S``. Afterwards the server must still serve everybody, the attacker included.
The servers use the default ``server:`` settings (16 workers, ``timeout_s`` 60,
``header_timeout_s`` 10), only Basic is allowed on loopback HTTP so that raw sockets can log
in. Without the fixes, each victim request here waited until its 10 s timeout.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORDS
from tests.support import attacks, rawhttp
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

VICTIM_MAX_S = 1.0
VICTIM_REQUESTS = 5
DEFAULTS_CONFIG = "auth: {basic_over_http: true}\nreserve_bytes: 0\n"
CAPPED_CONFIG = DEFAULTS_CONFIG + "server: {max_connections_per_address: 10}\n"


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    """A plain-HTTP server with default ``server:`` and ``limits:`` settings."""
    srv = start_server(tmp_path_factory.mktemp("availability"), DEFAULTS_CONFIG)
    yield srv
    srv.stop()


@contextmanager
def _victim(server: DavServer, user: str = "bob") -> Iterator[httpx.Client]:
    """``user``'s client, already logged in (it was working before the attack began)."""
    with httpx.Client(auth=(user, USERS[user]), timeout=10.0) as c:
        c.request("PROPFIND", server.files_url(user), headers={"Depth": "0"}).raise_for_status()
        yield c


def _log_in(server: DavServer, user: str) -> None:
    """Have ``user``'s Basic credentials verified once (argon2 takes a second or so; the
    timings below are about the refusal, not about the first login)."""
    with httpx.Client(auth=(user, USERS[user]), timeout=10.0) as c:
        c.request("PROPFIND", server.files_url(user), headers={"Depth": "0"}).raise_for_status()


def _assert_served_fast(client: httpx.Client, url: str) -> None:
    """``VICTIM_REQUESTS`` PROPFINDs of ``url``, each answered 207 in under VICTIM_MAX_S."""
    for _ in range(VICTIM_REQUESTS):
        started = time.monotonic()
        r = client.request("PROPFIND", url, headers={"Depth": "0"})
        waited = time.monotonic() - started
        assert r.status_code == 207
        assert waited < VICTIM_MAX_S, f"the other client waited {waited:.2f} s"
        time.sleep(0.1)


def _healthy(server: DavServer, user: str = "alice") -> None:
    """The server still serves ``user`` (whose slots must have been released)."""
    deadline = time.monotonic() + 10
    with httpx.Client(auth=(user, USERS[user]), timeout=10.0) as c:
        while True:
            r = c.put(server.files_url(user, "after-attack.txt"), content=b"fine")
            if r.status_code in (201, 204) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert r.status_code in (201, 204)


def _puts_to(user: str) -> Callable[[int], str]:
    return lambda i: f"/remote.php/dav/files/{user}/attack-{i}.bin"


def test_64_trickling_unauthenticated_puts(defaults: DavServer) -> None:
    """Each is answered 401 with Connection: close at once, its body never read."""
    target = attacks.Target.of(defaults.url)
    with _victim(defaults) as bob:
        with attacks.running(attacks.trickle_puts(target, _puts_to("alice"), 64)) as attack:
            _assert_served_fast(bob, defaults.files_url("bob"))
        assert attack.tally.statuses.get(401, 0) >= 64, attack.tally
        assert set(attack.tally.statuses) == {401}, attack.tally
    _healthy(defaults)
    assert not list((defaults.root / "files" / "alice").glob("attack-*"))


def test_64_trickling_unauthenticated_puts_over_tls(tls_server: DavServer, ca_file: Path) -> None:
    tls = ssl.create_default_context(cafile=str(ca_file))
    target = attacks.Target.of(tls_server.url, tls)
    with httpx.Client(auth=("bob", PASSWORDS["bob"]), verify=str(ca_file), timeout=10.0) as bob:
        url = tls_server.files_url("bob")
        bob.request("PROPFIND", url, headers={"Depth": "0"}).raise_for_status()
        with attacks.running(attacks.trickle_puts(target, _puts_to("alice"), 64)) as attack:
            _assert_served_fast(bob, url)
        assert attack.tally.statuses.get(401, 0) >= 64, attack.tally


def test_40_slow_puts_of_one_user_leave_room_for_another(defaults: DavServer) -> None:
    """alice's uploads beyond her cap get 429 before their body; bob is served meanwhile."""
    target = attacks.Target.of(defaults.url)
    slow = attacks.slow_puts(target, _puts_to("alice"), "alice", USERS["alice"], 40)
    with _victim(defaults) as bob:
        with attacks.running(slow, settle_s=2.0) as attack:
            _assert_served_fast(bob, defaults.files_url("bob"))
        assert attack.tally.statuses.get(429, 0) >= 40 - 14, attack.tally
    _healthy(defaults, "alice")


def test_100_slowloris_connections(defaults: DavServer) -> None:
    """Request heads are collected outside the worker pool and cut after header_timeout_s."""
    target = attacks.Target.of(defaults.url)
    attack = attacks.slowloris(target, "/remote.php/dav/", 100)
    with _victim(defaults) as bob, attacks.running(attack):
        _assert_served_fast(bob, defaults.files_url("bob"))
    _healthy(defaults)


def test_slowloris_heads_are_cut_at_the_header_deadline(hostile: DavServer) -> None:
    """The hostile server's header_timeout_s is 2 s: a head still incomplete by then is closed."""
    target = attacks.Target.of(hostile.url)
    attack = attacks.slowloris(target, "/remote.php/dav/", 20, interval_s=0.3)
    with attacks.running(attack, settle_s=0.1):
        time.sleep(2 + 2)
        assert attack.tally.cut >= 20, attack.tally


def test_ten_terabyte_put_is_refused_at_once(defaults: DavServer) -> None:
    """507 Insufficient Storage before the body, the connection closed, no free-space figure,
    no traceback; again while four such PUTs hammer the server and bob works."""
    host = attacks.Target.of(defaults.url)
    _log_in(defaults, "alice")
    sock = host.connect()
    try:
        sock.sendall(
            f"PUT /remote.php/dav/files/alice/huge.bin HTTP/1.1\r\nHost: {host.netloc}\r\n"
            f"{attacks.basic_auth('alice', USERS['alice'])}"
            f"Content-Length: {attacks.TEN_TB}\r\n\r\n".encode()
            + b"\0" * 65536
        )
        started = time.monotonic()
        response = rawhttp.parse(_read_to_close(sock))
        assert time.monotonic() - started < VICTIM_MAX_S
    finally:
        sock.close()
    assert response.status == 507 and response.reason == "Insufficient Storage"
    assert response.headers.get("connection") == "close"
    assert b"available" not in response.body
    huge = attacks.huge_puts(host, _puts_to("alice"), "alice", USERS["alice"], 4)
    with _victim(defaults) as bob, attacks.running(huge) as attack:
        _assert_served_fast(bob, defaults.files_url("bob"))
    assert set(attack.tally.statuses) == {507}, attack.tally
    _healthy(defaults)
    log = "".join(defaults.output)
    assert "Traceback" not in log and "MemoryError" not in log
    assert "507 Status" not in log


def test_ten_terabyte_put_over_the_size_limit_is_413(hostile: DavServer) -> None:
    """With limits.max_put_bytes set (1 MB on the hostile server): 413 Content Too Large."""
    _log_in(hostile, "alice")
    request = rawhttp.build(
        "PUT",
        "/remote.php/dav/files/alice/huge.bin",
        host=attacks.Target.of(hostile.url).netloc,
        headers=[f"Content-Length: {attacks.TEN_TB}"],
        auth=rawhttp.basic("alice", USERS["alice"]),
    )
    started = time.monotonic()
    response = rawhttp.exchange(hostile.url, request + b"\0" * 65536, half_close=False)
    assert time.monotonic() - started < VICTIM_MAX_S
    assert response.status == 413 and response.reason == "Content Too Large"


def test_expect_100_continue_refusal_comes_first(defaults: DavServer) -> None:
    """No ``100 Continue`` for a request refused at its headers: the client need not send the
    body; an accepted one gets ``100 Continue`` once the server reads the body."""
    target = attacks.Target.of(defaults.url)
    head = (
        f"PUT /remote.php/dav/files/alice/expect.txt HTTP/1.1\r\nHost: {target.netloc}\r\n"
        "Expect: 100-continue\r\nContent-Length: 5\r\n"
    )
    with target.connect() as sock:
        sock.sendall((head + "\r\n").encode())
        refused = rawhttp.parse(_read_to_close(sock))
    assert refused.status == 401
    with target.connect() as sock:
        sock.sendall((head + attacks.basic_auth("alice", USERS["alice"]) + "\r\n").encode())
        sock.settimeout(10)
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        sock.sendall(b"hello")
        final = rawhttp.parse(interim[25:] + sock.recv(65536))
    assert final.status == 201
    assert (defaults.root / "files" / "alice" / "expect.txt").read_bytes() == b"hello"


def test_connections_per_address_are_capped(tmp_path: Path) -> None:
    """Beyond server.max_connections_per_address, new connections of that address are closed
    at once; other addresses are served."""
    srv = start_server(tmp_path, CAPPED_CONFIG)
    try:
        attacker = attacks.Target.of(srv.url, source="127.0.0.2")
        held = [attacker.connect() for _ in range(10)]
        try:
            extra = attacker.connect()
            extra.settimeout(5)
            try:
                assert extra.recv(1) == b""
            except ConnectionResetError:
                pass
            finally:
                extra.close()
            with _victim(srv) as bob:
                _assert_served_fast(bob, srv.files_url("bob"))
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.5)
        with attacker.connect() as again:  # closed connections no longer count
            again.sendall(
                f"OPTIONS /remote.php/dav/ HTTP/1.1\r\nHost: {attacker.netloc}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            assert rawhttp.parse(_read_to_close(again)).status in (200, 401)
    finally:
        srv.stop()


def _read_to_close(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data
