"""Login throttling cannot be aimed: a brute force from 127.0.0.2 (every guess refused, then
throttled) never refuses the real client on 127.0.0.1; and the throttle state and Digest nonces
are shared by two server processes on one root (a nonce issued by one works on the other, a
replay is refused by both)."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

CONFIG = """\
auth:
  basic_over_http: true
  throttle: {max_failures: 5, lockout_s: 30}
"""
ATTACKER = "127.0.0.2"
GUESSES = 120


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DavServer, DavServer]]:
    tmp = tmp_path_factory.mktemp("throttle")
    one = start_server(tmp, CONFIG)
    two = DavServer(one.root, list(one.extra_args)).start()
    yield one, two
    two.stop()
    one.stop()


def _from(addr: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=addr)
    return httpx.Client(transport=transport, timeout=30.0)


def _attack(one: DavServer, two: DavServer, codes: Counter[int]) -> None:
    """GUESSES wrong passwords from ATTACKER: mostly alice's, sometimes other accounts', on
    both servers."""
    with _from(ATTACKER) as c:
        for i in range(GUESSES):
            user = f"guess{i}" if i % 10 == 9 else "alice"
            server = one if i % 3 else two
            r = c.request(
                "PROPFIND", server.files_url("alice"), headers={"Depth": "0"}, auth=(user, "x")
            )
            codes[r.status_code] += 1


def _real_client_codes(servers: tuple[DavServer, ...], rounds: int) -> Counter[int]:
    codes: Counter[int] = Counter()
    with _from("127.0.0.1") as real:
        for i in range(rounds):
            url = servers[i % len(servers)].files_url("alice")
            r = real.request(
                "PROPFIND", url, headers={"Depth": "0"}, auth=("alice", USERS["alice"])
            )
            codes[r.status_code] += 1
    return codes


def test_brute_force_from_elsewhere_never_refuses_the_real_client(
    pair: tuple[DavServer, DavServer],
) -> None:
    one, two = pair
    attacker_codes: Counter[int] = Counter()
    _attack(one, two, attacker_codes)  # first alone: no success in between resets anything
    assert attacker_codes[429] > GUESSES // 2, attacker_codes  # the guesser was throttled
    assert set(attacker_codes) <= {401, 429}, attacker_codes
    assert _real_client_codes(pair, 6) == Counter({207: 6})
    # and while the attack goes on
    thread = threading.Thread(target=_attack, args=(one, two, attacker_codes))
    thread.start()
    real_codes = _real_client_codes(pair, 20)
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert real_codes == Counter({207: 20})
    # Digest from the real address works as well, on either process.
    for server in pair:
        with httpx.Client(auth=httpx.DigestAuth("alice", USERS["alice"]), timeout=30) as c:
            r = c.request("PROPFIND", server.files_url("alice"), headers={"Depth": "0"})
            assert r.status_code == 207


def test_throttle_is_shared_by_both_processes(pair: tuple[DavServer, DavServer]) -> None:
    one, two = pair
    user = "bob"
    with _from("127.0.0.3") as c:  # an address of its own: the other test locks ATTACKER
        for _ in range(5):
            r = c.get(one.files_url(user), auth=(user, "wrong"))
            assert r.status_code == 401
        assert c.get(two.files_url(user), auth=(user, USERS[user])).status_code == 429
    with _from("127.0.0.1") as c:
        assert c.get(two.files_url(user), auth=(user, USERS[user])).status_code in (200, 207)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # HTTP Digest is MD5


def _challenge(server: DavServer, path: str) -> dict[str, str]:
    r = httpx.get(server.url.rstrip("/") + path, timeout=30)
    assert r.status_code == 401
    header = r.headers["WWW-Authenticate"]
    assert header.startswith("Digest ")
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def _authorization(params: dict[str, str], user: str, method: str, path: str, nc: int) -> str:
    cnonce = secrets.token_hex(8)
    ha1 = _md5(f"{user}:{params['realm']}:{USERS[user]}")
    ha2 = _md5(f"{method}:{path}")
    count = f"{nc:08x}"
    response = _md5(f"{ha1}:{params['nonce']}:{count}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}",'
        f' uri="{path}", algorithm=MD5, qop=auth, nc={count}, cnonce="{cnonce}",'
        f' response="{response}"'
    )


def test_digest_nonce_from_one_process_works_on_the_other(
    pair: tuple[DavServer, DavServer],
) -> None:
    one, two = pair
    path = "/remote.php/dav/files/carol/"
    params = _challenge(one, path)
    first = _authorization(params, "carol", "PROPFIND", path, 1)
    with httpx.Client(timeout=30) as c:
        headers = {"Depth": "0", "Authorization": first}
        assert c.request("PROPFIND", two.url.rstrip("/") + path, headers=headers).status_code == 207
        # the next count of the same nonce, back on the first process
        headers["Authorization"] = _authorization(params, "carol", "PROPFIND", path, 2)
        assert c.request("PROPFIND", one.url.rstrip("/") + path, headers=headers).status_code == 207
        # a replay is refused by both processes (a fresh, stale=true challenge)
        for server in (one, two):
            headers["Authorization"] = first
            r = c.request("PROPFIND", server.url.rstrip("/") + path, headers=headers)
            assert r.status_code == 401
            assert "stale=true" in r.headers["WWW-Authenticate"]
