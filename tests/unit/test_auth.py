"""Unit tests of davserver.auth: user store, login throttle, header parsing, domain controller."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher

from davserver.auth import (
    AuthConfigError,
    AuthError,
    DavsyncAuthConfig,
    DavsyncDomainController,
    InvalidUserNameError,
    LoginThrottle,
    UnknownUserError,
    UserExistsError,
    UserStore,
)
from davserver.auth.domain_controller import ENV_ATTEMPTED_USER, ENV_THROTTLED
from davserver.auth.gate import digest_well_formed, parse_authorization

pytestmark = pytest.mark.unit


def fast_hasher(time_cost: int = 1) -> PasswordHasher:
    """Cheap argon2 parameters, to keep the tests fast."""
    return PasswordHasher(time_cost=time_cost, memory_cost=8, parallelism=1)


class CountingHasher(PasswordHasher):
    """A hasher that counts verify() calls."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verify_calls = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verify_calls += 1
        return super().verify(hash, password)


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    return UserStore(tmp_path / "state.db", hasher=fast_hasher())


def rows(db_path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(
            "SELECT name, pw_hash, digest_ha1, digest_realm, created, disabled FROM users"
        ).fetchall()
    finally:
        conn.close()


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# --- UserStore ---------------------------------------------------------------------------------


def test_password_is_stored_as_argon2_hash(store: UserStore) -> None:
    store.add("alice", "s3cret-pass")
    ((name, pw_hash, ha1, realm, created, disabled),) = rows(store.db_path)
    assert name == "alice"
    assert pw_hash.startswith("$argon2id$")
    assert "s3cret-pass" not in pw_hash
    assert ha1 is None and realm is None
    assert created > 0 and disabled == 0


def test_verify_right_and_wrong_password(store: UserStore) -> None:
    store.add("alice", "s3cret-pass")
    assert store.verify("alice", "s3cret-pass") is True
    assert store.verify("alice", "wrong") is False
    assert store.verify("alice", "") is False
    assert store.verify("Alice", "s3cret-pass") is False  # names are case-sensitive


def test_verify_unknown_user_still_runs_argon2(tmp_path: Path) -> None:
    hasher = CountingHasher()
    store = UserStore(tmp_path / "state.db", hasher=hasher)
    before = hasher.verify_calls
    assert store.verify("nobody", "whatever") is False
    assert store.verify(".invalid name", "whatever") is False
    assert hasher.verify_calls == before + 2


def test_verify_never_raises_on_odd_passwords(store: UserStore) -> None:
    store.add("alice", "pässwörd")
    assert store.verify("alice", "pässwörd") is True
    assert store.verify("alice", "\udcff") is False  # not encodable


def test_add_existing_user_raises(store: UserStore) -> None:
    store.add("alice", "one")
    with pytest.raises(UserExistsError) as info:
        store.add("alice", "two")
    assert isinstance(info.value, AuthError)
    assert store.verify("alice", "one")


@pytest.mark.parametrize("name", ["a", "alice", "Bob_2", "x-y.z", "_svc", "-", "a" * 64])
def test_valid_names(store: UserStore, name: str) -> None:
    store.add(name, "pw")
    assert store.exists(name)


@pytest.mark.parametrize(
    "name", ["", ".hidden", "a" * 65, "a b", "a:b", "a/b", "ümlaut", "alice\n", "a\x00"]
)
def test_invalid_names(store: UserStore, name: str) -> None:
    with pytest.raises(InvalidUserNameError) as info:
        store.add(name, "pw")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AuthError)
    assert store.exists(name) is False
    assert store.verify(name, "pw") is False
    assert store.digest_ha1(name) is None


def test_empty_password_rejected(store: UserStore) -> None:
    with pytest.raises(ValueError):
        store.add("alice", "")
    assert not store.exists("alice")


def test_remove(store: UserStore) -> None:
    store.add("alice", "pw", digest_realm="davsync")
    store.add("bob", "pw")
    store.remove("alice")
    assert store.exists("alice") is False
    assert store.verify("alice", "pw") is False
    assert store.digest_ha1("alice") is None
    assert store.list_names() == ["bob"]
    with pytest.raises(UnknownUserError):
        store.remove("alice")


def test_list_names_sorted(store: UserStore) -> None:
    for name in ["carol", "alice", "bob"]:
        store.add(name, "pw")
    assert store.list_names() == ["alice", "bob", "carol"]


def test_set_password(store: UserStore) -> None:
    store.add("alice", "old")
    store.set_password("alice", "new")
    assert store.verify("alice", "new")
    assert not store.verify("alice", "old")
    with pytest.raises(UnknownUserError):
        store.set_password("bob", "x")


def test_digest_ha1_only_with_realm(store: UserStore) -> None:
    store.add("basiconly", "pw")
    store.add("digest", "pw", digest_realm="davsync")
    assert store.digest_ha1("basiconly") is None
    assert store.digest_ha1("basiconly", "davsync") is None
    expected = md5_hex("digest:davsync:pw")
    assert store.digest_ha1("digest") == expected
    assert store.digest_ha1("digest", "davsync") == expected
    assert store.digest_ha1("digest", "other-realm") is None
    assert store.digest_ha1("nobody") is None


def test_set_password_replaces_or_drops_ha1(store: UserStore) -> None:
    store.add("alice", "old", digest_realm="davsync")
    store.set_password("alice", "new", digest_realm="davsync")
    assert store.digest_ha1("alice") == md5_hex("alice:davsync:new")
    store.set_password("alice", "newer")  # no realm: the old HA1 must not survive
    assert store.digest_ha1("alice") is None
    ((_, _, ha1, realm, _, _),) = rows(store.db_path)
    assert ha1 is None and realm is None


def test_invalid_realm_rejected(store: UserStore) -> None:
    with pytest.raises(ValueError):
        store.add("alice", "pw", digest_realm='bad"realm')
    with pytest.raises(ValueError):
        store.add("alice", "pw", digest_realm="")
    assert not store.exists("alice")


def test_disabled_user_cannot_authenticate(store: UserStore) -> None:
    store.add("alice", "pw", digest_realm="davsync")
    store.set_disabled("alice", True)
    assert store.is_disabled("alice")
    assert store.verify("alice", "pw") is False
    assert store.digest_ha1("alice") is None
    store.set_disabled("alice", False)
    assert store.verify("alice", "pw") is True
    with pytest.raises(UnknownUserError):
        store.set_disabled("bob", True)


def test_outdated_hash_is_upgraded_on_verify(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    UserStore(db, hasher=fast_hasher(time_cost=1)).add("alice", "pw")
    old_hash = rows(db)[0][1]
    assert ",t=1," in old_hash
    upgraded = UserStore(db, hasher=fast_hasher(time_cost=2))
    assert upgraded.verify("alice", "wrong") is False
    assert rows(db)[0][1] == old_hash  # no rehash on failure
    assert upgraded.verify("alice", "pw") is True
    new_hash = rows(db)[0][1]
    assert new_hash != old_hash and ",t=2," in new_hash
    assert upgraded.verify("alice", "pw") is True


def test_store_shared_between_threads(store: UserStore) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            store.add(f"user{i}", f"pw{i}")
            assert store.verify(f"user{i}", f"pw{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_names()) == 8


# --- LoginThrottle -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_throttle(**kwargs: Any) -> tuple[LoginThrottle, FakeClock]:
    clock = FakeClock()
    params: dict[str, Any] = {"max_failures": 3, "window_s": 300, "lockout_s": 60}
    params.update(kwargs)
    return LoginThrottle(clock=clock, **params), clock


def test_throttle_locks_the_pair_not_the_account_elsewhere() -> None:
    throttle, _ = make_throttle()
    for _ in range(2):
        throttle.record_failure("alice", "10.0.0.1")
        assert throttle.check("alice", "10.0.0.1") is None
    throttle.record_failure("alice", "10.0.0.1")
    assert throttle.check("alice", "10.0.0.1") == pytest.approx(60)
    assert throttle.check("alice", "10.0.0.99") is None  # the right password elsewhere
    assert throttle.check("bob", "10.0.0.1") is None  # the address is below its own limit


def test_throttle_locks_address_after_its_limit_for_any_account() -> None:
    throttle, _ = make_throttle(address_max_failures=4)
    for name in ["a", "b", "c"]:
        throttle.record_failure(name, "192.0.2.7")
    assert throttle.check("someone-else", "192.0.2.7") is None
    throttle.record_failure("d", "192.0.2.7")
    assert throttle.check("someone-else", "192.0.2.7") == pytest.approx(60)
    assert throttle.check(None, "192.0.2.7") == pytest.approx(60)
    assert throttle.check("someone-else", "192.0.2.8") is None
    assert throttle.check("a", "192.0.2.8") is None


def test_throttle_account_backstop_spares_addresses_without_failures() -> None:
    throttle, _ = make_throttle(account_max_failures=5)
    for i in range(5):  # one guess each from five addresses: no pair or address limit
        throttle.record_failure("alice", f"10.0.1.{i}")
    assert throttle.check("alice", "10.0.1.0") == pytest.approx(60)  # failed before: waits
    assert throttle.check("alice", "10.0.1.4") == pytest.approx(60)
    assert throttle.check("alice", "10.0.2.1") is None  # never failed: never refused
    assert throttle.check("bob", "10.0.1.0") is None
    throttle.record_failure("alice", "10.0.2.1")  # a first failure: now it waits as well
    assert throttle.check("alice", "10.0.2.1") == pytest.approx(60)


def test_throttle_default_limits_scale_with_max_failures() -> None:
    throttle = LoginThrottle(max_failures=7)
    assert (throttle.address_max_failures, throttle.account_max_failures) == (21, 70)


def test_throttle_lockout_expires_and_relocks_within_window() -> None:
    throttle, clock = make_throttle()
    for _ in range(3):
        throttle.record_failure("alice", "192.0.2.1")
    clock.now += 30
    assert throttle.check("alice", "192.0.2.1") == pytest.approx(30)
    clock.now += 30
    assert throttle.check("alice", "192.0.2.1") is None
    # Still inside the window: one more failure locks again at once.
    throttle.record_failure("alice", "192.0.2.1")
    assert throttle.check("alice", "192.0.2.1") == pytest.approx(60)
    # After the window has passed, the count starts from zero.
    clock.now += 301
    throttle.record_failure("alice", "192.0.2.1")
    assert throttle.check("alice", "192.0.2.1") is None


def test_throttle_failures_outside_window_do_not_count() -> None:
    throttle, clock = make_throttle()
    throttle.record_failure("alice", None)
    throttle.record_failure("alice", None)
    clock.now += 301
    throttle.record_failure("alice", None)
    assert throttle.check("alice", None) is None


def test_throttle_success_clears_pair_but_not_address() -> None:
    throttle, _ = make_throttle()
    throttle.record_failure("alice", "192.0.2.1")
    throttle.record_failure("alice", "192.0.2.1")
    throttle.record_success("alice", "192.0.2.1")
    throttle.record_failure("alice", "192.0.2.1")
    assert throttle.check("alice", "192.0.2.1") is None  # pair count restarted
    for name in ["x", "y", "z", "w", "v", "u"]:
        throttle.record_failure(name, "192.0.2.1")
    throttle.record_success("x", "192.0.2.1")
    assert throttle.check(None, "192.0.2.1") == pytest.approx(60)  # address kept all nine


def test_throttle_longest_wait_wins() -> None:
    throttle, clock = make_throttle(address_max_failures=3)
    for _ in range(3):
        throttle.record_failure("alice", "192.0.2.9")
    clock.now += 40
    for name in ["x", "y", "z"]:
        throttle.record_failure(name, "192.0.2.9")
    assert throttle.check("alice", "192.0.2.9") == pytest.approx(60)
    clock.now += 30
    assert throttle.check("alice", "192.0.2.9") == pytest.approx(30)


def test_throttle_groups_ipv6_by_64_and_maps_ipv4() -> None:
    throttle, _ = make_throttle(address_max_failures=3)
    throttle.record_failure(None, "2001:db8:1:2::1")
    throttle.record_failure(None, "2001:db8:1:2:ffff::9")
    throttle.record_failure(None, "2001:db8:1:2::abcd")
    assert throttle.check(None, "2001:db8:1:2::77") is not None
    assert throttle.check(None, "2001:db8:1:3::1") is None
    for _ in range(3):
        throttle.record_failure("carol", "::ffff:192.0.2.5")
    assert throttle.check(None, "192.0.2.5") is not None
    assert throttle.check("carol", "192.0.2.5") is not None


def test_throttle_storage_is_bounded() -> None:
    throttle, _ = make_throttle(max_records=300)
    for i in range(1000):
        throttle.record_failure(f"user{i}", f"10.0.{i // 256}.{i % 256}")
    users, addrs = throttle.tracked()
    assert users <= 300 and addrs <= 300
    # The most recent failures are kept.
    for _ in range(2):
        throttle.record_failure("user999", "10.0.3.231")
    assert throttle.check("user999", "10.0.3.231") is not None


def test_throttle_drops_stale_keys() -> None:
    throttle, clock = make_throttle()
    for i in range(50):
        throttle.record_failure(f"user{i}", "192.0.2.1")
    clock.now += 301
    throttle.record_failure("fresh", "192.0.2.2")
    assert throttle.tracked() == (1, 1)


def test_throttle_is_shared_by_instances_on_one_file(tmp_path: Path) -> None:
    one = LoginThrottle(max_failures=3, db_path=tmp_path / "state.sqlite3")
    two = LoginThrottle(max_failures=3, db_path=tmp_path / "state.sqlite3")
    for _ in range(3):
        one.record_failure("alice", "192.0.2.1")
    assert two.check("alice", "192.0.2.1") is not None
    two.record_success("alice", "192.0.2.1")
    assert one.check("alice", "192.0.2.1") is None


def test_throttle_is_thread_safe() -> None:
    throttle = LoginThrottle(max_failures=1000, window_s=300, lockout_s=60)

    def work() -> None:
        for _ in range(100):
            throttle.record_failure("alice", "192.0.2.1")
            throttle.check("alice", "192.0.2.1")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert throttle.check("alice", "192.0.2.1") is None  # 800 < 1000
    for _ in range(200):
        throttle.record_failure("alice", "192.0.2.1")
    assert throttle.check("alice", "192.0.2.1") is not None


def test_throttle_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        LoginThrottle(max_failures=0)
    with pytest.raises(ValueError):
        LoginThrottle(window_s=0)
    with pytest.raises(ValueError):
        LoginThrottle(max_records=0)


# --- Authorization header parsing --------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_parse_basic() -> None:
    creds = parse_authorization(basic("alice", "pw:with:colons"))
    assert (creds.scheme, creds.user, creds.malformed) == ("basic", "alice", False)


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:pw").decode(),
        "Basic",
    ],
)
def test_parse_malformed_basic(header: str) -> None:
    creds = parse_authorization(header)
    assert creds.scheme == "basic" and creds.malformed and creds.user is None


def test_parse_digest() -> None:
    header = (
        'Digest username="alice", realm="davsync", nonce="abc", uri="/a,b.txt", '
        'response="123", qop=auth, nc=00000001, cnonce="xyz"'
    )
    creds = parse_authorization(header)
    assert (creds.scheme, creds.user, creds.malformed) == ("digest", "alice", False)
    assert parse_authorization('Digest realm="davsync"').user is None
    assert parse_authorization('Digest username="DOM\\\\bob", x=1').user == "DOM\\bob"


def test_parse_other_schemes() -> None:
    assert parse_authorization("Bearer abc").scheme == "bearer"
    assert parse_authorization("").scheme == ""


# --- Domain controller -------------------------------------------------------------------------


def dc_config(store: UserStore, throttle: LoginThrottle, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "user_store": store,
        "throttle": throttle,
        "realm": "davsync",
        "allow_anonymous_paths": ["/pub/", "/status"],
        "basic_over_http": True,
    }
    section.update(extra)
    return {"davsync": section}


def environ(path: str = "/x", *, scheme: str = "http", script: str = "") -> dict[str, Any]:
    return {
        "SCRIPT_NAME": script,
        "PATH_INFO": path,
        "REMOTE_ADDR": "192.0.2.1",
        "wsgi.url_scheme": scheme,
    }


def test_dc_realm_and_anonymous_paths(store: UserStore) -> None:
    dc = DavsyncDomainController(None, dc_config(store, LoginThrottle()))
    assert dc.get_domain_realm("/anything", None) == "davsync"
    assert dc.require_authentication("davsync", environ("/pub")) is False
    assert dc.require_authentication("davsync", environ("/pub/a/b")) is False
    assert dc.require_authentication("davsync", environ("/b", script="/pub")) is False
    assert dc.require_authentication("davsync", environ("/status")) is False
    assert dc.require_authentication("davsync", environ("/public")) is True
    assert dc.require_authentication("davsync", environ("/status2")) is True
    assert dc.require_authentication("davsync", environ("/")) is True
    assert dc.require_authentication("davsync", None) is True
    assert dc.supports_http_digest_auth() is True


def test_dc_basic_and_digest(store: UserStore) -> None:
    store.add("alice", "pw", digest_realm="davsync")
    dc = DavsyncDomainController(None, dc_config(store, LoginThrottle()))
    env = environ()
    assert dc.basic_auth_user("davsync", "alice", "pw", env) is True
    assert env[ENV_ATTEMPTED_USER] == "alice"
    assert dc.basic_auth_user("davsync", "alice", "nope", environ()) is False
    assert dc.basic_auth_user("other", "alice", "pw", environ()) is False
    assert dc.digest_auth_user("davsync", "alice", environ()) == md5_hex("alice:davsync:pw")
    assert dc.digest_auth_user("other", "alice", environ()) is False
    assert dc.digest_auth_user("davsync", "nobody", environ()) is False


def test_dc_refuses_basic_over_http_when_disallowed(store: UserStore) -> None:
    store.add("alice", "pw")
    dc = DavsyncDomainController(None, dc_config(store, LoginThrottle(), basic_over_http=False))
    assert dc.basic_auth_user("davsync", "alice", "pw", environ(scheme="http")) is False
    assert dc.basic_auth_user("davsync", "alice", "pw", environ(scheme="https")) is True


def test_dc_refuses_while_throttled(store: UserStore) -> None:
    store.add("alice", "pw", digest_realm="davsync")
    throttle = LoginThrottle(max_failures=1)
    dc = DavsyncDomainController(None, dc_config(store, throttle))
    throttle.record_failure("alice", environ()["REMOTE_ADDR"])
    env = environ()
    assert dc.basic_auth_user("davsync", "alice", "pw", env) is False
    assert env[ENV_THROTTLED] is True
    assert dc.digest_auth_user("davsync", "alice", environ()) is False


@pytest.mark.parametrize(
    "extra",
    [
        {"realm": ""},
        {"realm": 'a"b'},
        {"user_store": None},
        {"throttle": object()},
        {"allow_anonymous_paths": "/pub"},
        {"allow_anonymous_paths": ["pub"]},
        {"basic_over_http": "yes"},
    ],
)
def test_dc_config_errors(store: UserStore, extra: dict[str, Any]) -> None:
    with pytest.raises(AuthConfigError):
        config = dc_config(store, LoginThrottle())
        config["davsync"].update(extra)
        DavsyncDomainController(None, config)


def test_dc_config_missing_section() -> None:
    with pytest.raises(AuthConfigError):
        DavsyncAuthConfig.from_wsgidav_config({})


def test_assess_reports_the_wait_and_the_pairs_failures() -> None:
    throttle, clock = make_throttle()
    clean = throttle.assess("alice", "10.0.0.1")
    assert clean.wait is None and clean.pair_failures == 0
    throttle.record_failure("alice", "10.0.0.1")
    throttle.record_failure("bob", "10.0.0.1")  # the address's, not alice's pair
    seen = throttle.assess("alice", "10.0.0.1")
    assert seen.wait is None and seen.pair_failures == 1
    throttle.record_failure("alice", "10.0.0.1")
    throttle.record_failure("alice", "10.0.0.1")
    locked = throttle.assess("alice", "10.0.0.1")
    assert locked.pair_failures == 3
    assert locked.wait == pytest.approx(60) == throttle.check("alice", "10.0.0.1")
    assert throttle.assess("alice", None).pair_failures == 0  # another pair (unknown address)
    clock.now += 301  # out of the window
    assert throttle.assess("alice", "10.0.0.1").pair_failures == 0


def test_assess_counts_the_address_scope_in_the_same_query() -> None:
    throttle, _ = make_throttle(address_max_failures=2)
    throttle.record_failure("x", "192.0.2.9")
    throttle.record_failure("y", "192.0.2.9")
    seen = throttle.assess("alice", "192.0.2.9")
    assert seen.wait == pytest.approx(60) and seen.pair_failures == 0
    ipv6 = throttle.assess("alice", "2001:db8::1")
    assert ipv6.wait is None
    throttle.record_failure("z", "2001:db8::1")
    throttle.record_failure("z", "2001:db8::2")  # the same /64
    assert throttle.assess("alice", "2001:db8::3").wait == pytest.approx(60)


def test_throttle_keys_a_long_claimed_name_by_its_digest(tmp_path: Path) -> None:
    """Names longer than any account's (a request head fits 48 KB) cost a fixed size each,
    and are still throttled (600 failures with 40 KB names grew the database by 100 MB)."""
    db = tmp_path / "state.sqlite3"
    throttle = LoginThrottle(max_failures=3, window_s=300, lockout_s=60, db_path=db)
    long_name = "n" * 40_000
    for i in range(200):
        throttle.record_failure(f"{i}{long_name}", f"10.1.{i // 250}.{i % 250}")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (longest,) = conn.execute("SELECT MAX(LENGTH(key)) FROM login_failures").fetchone()
    assert longest < 200, f"a key of {longest} characters"
    for _ in range(3):
        throttle.record_failure(long_name, "10.2.0.1")
    assert throttle.check(long_name, "10.2.0.1") is not None
    assert throttle.check(long_name + "x", "10.2.0.1") is None  # another name: not locked


@pytest.mark.parametrize(
    "params",
    [
        ' opaque="' + "," * 60_000,  # never closed (quadratic for the parameter expressions)
        ' a="x" ,b=1',  # something between the closing quote and the comma
        ' a=x"y',
        ' a="x"y',
        " =x",
        " a",
    ],
)
def test_malformed_digest_headers(params: str) -> None:
    assert not digest_well_formed(params)
    assert parse_authorization("Digest" + params).malformed


def test_well_formed_digest_headers() -> None:
    for params in (' username="DOM\\\\bob", uri="/a,b", nc=00000001', "a=1,b=2", ""):
        assert digest_well_formed(params)
