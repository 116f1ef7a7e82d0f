"""The Basic-credential cache: hits only for the exact pair, expires, stays bounded; checks
at most ``max_checks`` different credentials at once and shares a check's outcome."""

from __future__ import annotations

import threading
import time

import pytest

from davserver.auth.credential_cache import ChecksBusyError, CredentialCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_exact_pair_only_and_expiry() -> None:
    clock = Clock()
    cache = CredentialCache(ttl_s=10, clock=clock)
    assert not cache.hit("alice", "pw")
    cache.remember("alice", "pw")
    assert cache.hit("alice", "pw")
    assert not cache.hit("alice", "pw2")
    assert not cache.hit("bob", "pw")
    clock.now = 10.5
    assert not cache.hit("alice", "pw")


def test_bounded() -> None:
    cache = CredentialCache(ttl_s=100, max_entries=3, clock=Clock())
    for i in range(5):
        cache.remember(f"u{i}", "pw")
    assert not cache.hit("u0", "pw") and not cache.hit("u1", "pw")
    assert all(cache.hit(f"u{i}", "pw") for i in (2, 3, 4))


def test_never_stores_the_password() -> None:
    cache = CredentialCache()
    cache.remember("alice", "secret-password")
    assert all(b"secret" not in key for key in cache._entries)


def _hold_checks(cache: CredentialCache, users: list[str]) -> tuple[threading.Event, list[str]]:
    """Start a check for each of ``users`` that blocks until the returned event is set."""
    release = threading.Event()
    started: list[str] = []

    def check(user: str) -> bool:
        started.append(user)
        release.wait(10)
        return False

    for user in users:
        threading.Thread(
            target=cache.verify, args=(user, "pw", lambda u=user: check(u)), daemon=True
        ).start()
    deadline = time.monotonic() + 10
    while len(started) < len(users) and time.monotonic() < deadline:
        time.sleep(0.01)
    return release, started


def test_at_most_max_checks_different_credentials_at_once() -> None:
    cache = CredentialCache(max_checks=2, max_waiting=0)
    release, started = _hold_checks(cache, ["u1", "u2"])
    try:
        assert sorted(started) == ["u1", "u2"]
        with pytest.raises(ChecksBusyError):
            cache.verify("u3", "pw", lambda: pytest.fail("checked while busy"))
        cache.remember("u4", "pw")
        assert cache.verify("u4", "pw", lambda: pytest.fail("cached"))  # no check needed
    finally:
        release.set()
    deadline = time.monotonic() + 10
    while cache._inflight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.verify("u3", "pw", lambda: True)


def test_concurrent_identical_credentials_share_a_failure() -> None:
    cache = CredentialCache(max_checks=1, max_waiting=0)
    calls: list[int] = []
    gate = threading.Event()

    def slow_wrong() -> bool:
        calls.append(1)
        gate.wait(10)
        return False

    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.verify("u", "bad", slow_wrong)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(10)
    assert results == [False] * 8
    assert len(calls) == 1
    assert not cache._inflight


def test_waiting_credentials_are_checked_in_turn() -> None:
    cache = CredentialCache(max_checks=1, max_waiting=1)
    release, started = _hold_checks(cache, ["u1"])
    try:
        results: list[bool] = []
        waiter = threading.Thread(
            target=lambda: results.append(cache.verify("u2", "pw", lambda: True))
        )
        waiter.start()
        time.sleep(0.2)
        assert started == ["u1"] and not results  # u2 waits for the one check at a time
        with pytest.raises(ChecksBusyError):
            cache.verify("u3", "pw", lambda: pytest.fail("checked while busy"))
    finally:
        release.set()
    waiter.join(10)
    assert results == [True]
