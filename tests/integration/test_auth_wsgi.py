"""Authentication through a real WsgiDAV app: cheroot on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from cheroot import wsgi
from wsgidav.error_printer import ErrorPrinter
from wsgidav.fs_dav_provider import FilesystemProvider
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from davserver.auth import (
    AuthConfigError,
    DavsyncDomainController,
    LoginThrottle,
    ThrottleGate,
    UserStore,
)

pytestmark = pytest.mark.integration

REALM = "davsync"
CONTENT = b"hello over webdav\n"


@dataclass
class Site:
    app: WsgiDAVApp
    store: UserStore
    throttle: LoginThrottle


def make_config(
    root: Path,
    store: UserStore,
    throttle: LoginThrottle,
    *,
    basic_over_http: bool,
    anonymous: list[str] | None = None,
    stack: list[Any] | None = None,
    default_to_digest: bool = True,
    accept_digest: bool = True,
) -> dict[str, Any]:
    return {
        "provider_mapping": {"/": FilesystemProvider(str(root))},
        "http_authenticator": {
            "domain_controller": DavsyncDomainController,
            "accept_basic": True,
            "accept_digest": accept_digest,
            "default_to_digest": default_to_digest,
        },
        "middleware_stack": stack
        or [ErrorPrinter, ThrottleGate, HTTPAuthenticator, RequestResolver],
        "davsync": {
            "user_store": store,
            "throttle": throttle,
            "realm": REALM,
            "allow_anonymous_paths": anonymous or [],
            "basic_over_http": basic_over_http,
        },
        "verbose": 1,
        "logging": {"enable": False},
    }


@pytest.fixture
def site_factory(tmp_path: Path) -> Callable[..., Site]:
    root = tmp_path / "share"
    (root / "pub").mkdir(parents=True)
    (root / "hello.txt").write_bytes(CONTENT)
    (root / "pub" / "open.txt").write_bytes(b"public\n")
    store = UserStore(
        tmp_path / "state.db",
        hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
    )
    store.add("alice", "correct horse", digest_realm=REALM)
    store.add("basicbob", "bobs password")  # no HA1: Basic only

    def make(
        *, basic_over_http: bool, max_failures: int = 3, anonymous: list[str] | None = None
    ) -> Site:
        throttle = LoginThrottle(max_failures=max_failures, window_s=300, lockout_s=60)
        config = make_config(
            root, store, throttle, basic_over_http=basic_over_http, anonymous=anonymous
        )
        return Site(WsgiDAVApp(config), store, throttle)

    return make


@pytest.fixture
def serve() -> Iterator[Callable[[Site], str]]:
    """Serve a site with cheroot on 127.0.0.1 (free port); returns the base URL."""
    servers: list[tuple[wsgi.Server, threading.Thread]] = []

    def start(site: Site) -> str:
        server = wsgi.Server(("127.0.0.1", 0), site.app, numthreads=4)
        server.prepare()
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        servers.append((server, thread))
        host, port = server.bind_addr[:2]
        return f"http://{host}:{port}"

    yield start
    for server, thread in servers:
        server.stop()
        thread.join(timeout=10)


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=base_url, trust_env=False, timeout=10, **kwargs)


def test_no_credentials_gets_challenge(site_factory: Callable[..., Site], serve: Any) -> None:
    base = serve(site_factory(basic_over_http=True))
    with client(base) as c:
        r = c.get("/hello.txt")
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Digest ")
    assert f'realm="{REALM}"' in challenge
    assert "nonce=" in challenge


def test_basic_wrong_and_right_password(site_factory: Callable[..., Site], serve: Any) -> None:
    site = site_factory(basic_over_http=True)
    base = serve(site)
    with client(base) as c:
        assert c.get("/hello.txt", auth=("alice", "wrong")).status_code == 401
        assert c.get("/hello.txt", auth=("nobody", "wrong")).status_code == 401
        r = c.get("/hello.txt", auth=("alice", "correct horse"))
        assert r.status_code == 200
        assert r.content == CONTENT
        r = c.get("/hello.txt", auth=("basicbob", "bobs password"))
        assert r.status_code == 200


def test_basic_over_http_refused_when_disallowed(
    site_factory: Callable[..., Site], serve: Any
) -> None:
    site = site_factory(basic_over_http=False)
    base = serve(site)
    with client(base) as c:
        r = c.get("/hello.txt", auth=("alice", "correct horse"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Digest ")
    assert "Basic" not in r.headers["WWW-Authenticate"]
    assert site.throttle.tracked() == (0, 0)  # not counted: no password was checked


def test_digest_over_http(site_factory: Callable[..., Site], serve: Any) -> None:
    site = site_factory(basic_over_http=False)
    base = serve(site)
    with client(base) as c:
        r = c.get("/hello.txt", auth=httpx.DigestAuth("alice", "correct horse"))
        assert r.status_code == 200
        assert r.content == CONTENT
        r = c.request(
            "PROPFIND", "/", headers={"Depth": "1"}, auth=httpx.DigestAuth("alice", "correct horse")
        )
        assert r.status_code == 207
        r = c.get("/hello.txt", auth=httpx.DigestAuth("alice", "wrong"))
        assert r.status_code == 401
        # An account without a stored HA1 cannot use Digest.
        r = c.get("/hello.txt", auth=httpx.DigestAuth("basicbob", "bobs password"))
        assert r.status_code == 401
    assert site.throttle.tracked() == (2, 1)  # alice and basicbob failed, from one address


def test_basic_throttled_with_429(site_factory: Callable[..., Site], serve: Any) -> None:
    site = site_factory(basic_over_http=True, max_failures=3)
    base = serve(site)
    with client(base) as c:
        for _ in range(3):
            assert c.get("/hello.txt", auth=("alice", "wrong")).status_code == 401
        r = c.get("/hello.txt", auth=("alice", "correct horse"))
        assert r.status_code == 429
        retry_after = int(r.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        # Only alice from this address: the address is below its own (higher) limit.
        assert c.get("/hello.txt", auth=("basicbob", "bobs password")).status_code == 200
        for i in range(site.throttle.address_max_failures - 3):  # other accounts guessed
            assert c.get("/hello.txt", auth=(f"nobody{i}", "wrong")).status_code == 401
        # Now the address is locked, for every account.
        assert c.get("/hello.txt", auth=("basicbob", "bobs password")).status_code == 429
        # Requests without credentials still get the challenge.
        assert c.get("/hello.txt").status_code == 401


def test_digest_throttled_with_429(site_factory: Callable[..., Site], serve: Any) -> None:
    site = site_factory(basic_over_http=False, max_failures=3)
    base = serve(site)
    with client(base) as c:
        for _ in range(3):
            r = c.get("/hello.txt", auth=httpx.DigestAuth("alice", "wrong"))
            assert r.status_code == 401
        r = c.get("/hello.txt", auth=httpx.DigestAuth("alice", "correct horse"))
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1


def test_success_resets_account_failures(site_factory: Callable[..., Site], serve: Any) -> None:
    site = site_factory(basic_over_http=True, max_failures=3)
    base = serve(site)
    with client(base) as c:
        for _ in range(2):
            assert c.get("/hello.txt", auth=("alice", "wrong")).status_code == 401
        assert c.get("/hello.txt", auth=("alice", "correct horse")).status_code == 200
    assert site.throttle.check("alice", None) is None
    assert site.throttle.tracked() == (0, 1)


def test_malformed_basic_header_gets_401(site_factory: Callable[..., Site], serve: Any) -> None:
    base = serve(site_factory(basic_over_http=True))
    with client(base) as c:
        for value in ["Basic !!!", "Basic bm8tY29sb24="]:
            r = c.get("/hello.txt", headers={"Authorization": value})
            assert r.status_code == 401


def test_anonymous_prefix(site_factory: Callable[..., Site], serve: Any) -> None:
    base = serve(site_factory(basic_over_http=False, anonymous=["/pub"]))
    with client(base) as c:
        assert c.get("/pub/open.txt").status_code == 200
        assert c.get("/hello.txt").status_code == 401


# --- In-process (WSGI transport): HTTPS scheme and distinct client addresses -------------------


def wsgi_client(site: Site, scheme: str, addr: str) -> httpx.Client:
    transport = httpx.WSGITransport(app=site.app, remote_addr=addr)
    return httpx.Client(transport=transport, base_url=f"{scheme}://dav.test")


def test_basic_accepted_over_https_when_refused_on_http(
    site_factory: Callable[..., Site],
) -> None:
    site = site_factory(basic_over_http=False)
    with wsgi_client(site, "https", "192.0.2.10") as c:
        assert c.get("/hello.txt", auth=("alice", "correct horse")).status_code == 200
    with wsgi_client(site, "http", "192.0.2.10") as c:
        assert c.get("/hello.txt", auth=("alice", "correct horse")).status_code == 401


def test_failures_elsewhere_never_lock_out_a_clean_address(
    site_factory: Callable[..., Site],
) -> None:
    site = site_factory(basic_over_http=True, max_failures=3)
    guessers = [f"192.0.2.{20 + i}" for i in range(site.throttle.account_max_failures)]
    for addr in guessers:  # one guess per address: the account backstop is reached
        with wsgi_client(site, "http", addr) as c:
            assert c.get("/hello.txt", auth=("alice", "wrong")).status_code == 401
    with wsgi_client(site, "http", "198.51.100.1") as c:  # no failures from here
        assert c.get("/hello.txt", auth=("alice", "correct horse")).status_code == 200
    with wsgi_client(site, "http", guessers[0]) as c:  # failed before: waits
        r = c.get("/hello.txt", auth=("alice", "correct horse"))
        assert r.status_code == 429
        assert "Retry-After" in r.headers
        # Other accounts are unaffected from that address.
        assert c.get("/hello.txt", auth=("basicbob", "bobs password")).status_code == 200


def test_gate_after_authenticator_is_rejected(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "state.db")
    config = make_config(
        tmp_path,
        store,
        LoginThrottle(),
        basic_over_http=False,
        stack=[ErrorPrinter, HTTPAuthenticator, ThrottleGate, RequestResolver],
    )
    with pytest.raises(AuthConfigError):
        WsgiDAVApp(config)


def test_basic_refused_on_http_needs_digest_default(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "state.db")
    config = make_config(
        tmp_path, store, LoginThrottle(), basic_over_http=False, default_to_digest=False
    )
    with pytest.raises(AuthConfigError):
        WsgiDAVApp(config)


def test_digest_off_and_basic_refused_on_http_means_https_only(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_bytes(CONTENT)
    store = UserStore(
        tmp_path / "state.db", hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    store.add("alice", "correct horse")
    config = make_config(
        tmp_path,
        store,
        LoginThrottle(),
        basic_over_http=False,
        accept_digest=False,
        default_to_digest=False,
    )
    site = Site(WsgiDAVApp(config), store, config["davsync"]["throttle"])
    with wsgi_client(site, "https", "192.0.2.30") as c:
        assert c.get("/hello.txt", auth=("alice", "correct horse")).status_code == 200
    with wsgi_client(site, "http", "192.0.2.30") as c:
        r = c.get("/hello.txt", auth=("alice", "correct horse"))
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic ")


class CountingThrottle(LoginThrottle):
    """Counts what the gate records."""

    successes = 0

    def record_success(self, user: str | None, addr: str | None) -> None:
        self.successes += 1
        super().record_success(user, addr)


def test_a_clean_success_writes_nothing_but_one_after_failures_clears_them(
    tmp_path: Path, site_factory: Callable[..., Site], serve: Any
) -> None:
    site = site_factory(basic_over_http=True)
    throttle = CountingThrottle(max_failures=3, window_s=300, lockout_s=60)
    config = make_config(tmp_path / "share", site.store, throttle, basic_over_http=True)
    base = serve(Site(WsgiDAVApp(config), site.store, throttle))
    good = ("alice", "correct horse")
    with client(base, auth=good) as c:
        for _ in range(3):
            assert c.get("/hello.txt").status_code == 200
    assert throttle.successes == 0  # nothing on record: no write per request
    for _ in range(2):
        with client(base, auth=("alice", "wrong")) as c:
            assert c.get("/hello.txt").status_code == 401
    with client(base, auth=good) as c:
        assert c.get("/hello.txt").status_code == 200
    assert throttle.successes == 1
    assert throttle.assess("alice", "127.0.0.1").pair_failures == 0  # cleared
