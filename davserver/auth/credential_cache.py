"""Remembers recently verified Basic credentials so argon2 runs once per client, not per request.

Basic clients (rclone, scripts) send the password with every request; verifying an argon2id
hash costs tens of milliseconds by design, which would cap small-file throughput at a few
dozen requests per second. Entries are keyed by an HMAC of (user, password) under a key that
lives only in this process's memory, so the cache never holds a password or a reusable hash.
An entry expires after ``ttl_s``: a password changed or an account disabled from another
process takes effect for cached clients within that time.

``verify`` runs the check once for concurrent requests with the same credentials: the others
wait for its outcome (forty uploads of one client starting at once cost one argon2 run, not
forty that occupy every worker and core for seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class CredentialCache:
    """Thread-safe, bounded, TTL cache of successful Basic verifications."""

    def __init__(
        self,
        ttl_s: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[bytes, threading.Lock] = {}

    def _digest(self, user: str, password: str) -> bytes:
        msg = user.encode("utf-8") + b"\x00" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def hit(self, user: str, password: str) -> bool:
        """True if this exact (user, password) was verified less than ``ttl_s`` ago."""
        key = self._digest(user, password)
        now = self._clock()
        with self._lock:
            expires = self._entries.get(key)
            if expires is None:
                return False
            if expires <= now:
                del self._entries[key]
                return False
            return True

    def remember(self, user: str, password: str) -> None:
        """Record a successful verification."""
        key = self._digest(user, password)
        with self._lock:
            self._entries[key] = self._clock() + self._ttl
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def verify(self, user: str, password: str, check: Callable[[], bool]) -> bool:
        """True if cached, else ``check()`` (remembered when True); concurrent calls with the
        same credentials run ``check`` once and share a success."""
        if self.hit(user, password):
            return True
        key = self._digest(user, password)
        with self._lock:
            gate = self._inflight.setdefault(key, threading.Lock())
        try:
            with gate:
                if self.hit(user, password):
                    return True
                ok = check()
                if ok:
                    self.remember(user, password)
                return ok
        finally:
            with self._lock:
                if self._inflight.get(key) is gate and not gate.locked():
                    del self._inflight[key]
