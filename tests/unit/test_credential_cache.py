"""The Basic-credential cache: hits only for the exact pair, expires, stays bounded."""

from __future__ import annotations

from davserver.auth.credential_cache import CredentialCache


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
