"""Remembers recently verified Basic credentials so argon2 runs once per client, not per request.

Basic clients (rclone, scripts) send the password with every request; verifying an argon2id
hash costs tens of milliseconds by design, which would cap small-file throughput at a few
dozen requests per second. Entries are keyed by an HMAC of (user, password) under a key that
lives only in this process's memory, so the cache never holds a password or a reusable hash.
An entry expires after ``ttl_s``: a password changed or an account disabled from another
process takes effect for cached clients within that time.

``verify`` runs the check once for concurrent requests with the same credentials: the others
wait for its outcome, success or failure (forty uploads of one client starting at once cost
one argon2 run, not forty that occupy every worker and core for seconds).

At most ``max_checks`` different credentials are checked at once and ``max_waiting`` more
wait for their turn; ``verify`` raises ``ChecksBusyError`` for further ones without
checking. Each argon2 verification takes 64 MiB and a core for a fifth of a second or more:
a password spray from many addresses (each under the failed-login throttle) ran one in
every worker, so that the server grew by 1 GB and a logged-in client waited 10 to 23 s for
a worker.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from davserver.auth.errors import AuthError

DEFAULT_MAX_CHECKS = max(2, min(4, os.cpu_count() or 2))
"""Password checks at once: about one per core (each uses several), at least two."""
WAITING_PER_CHECK = 1
"""Different credentials that may wait for a check, per check at once (a burst of logins of
several users is served, a spray holds only a few workers)."""


class ChecksBusyError(AuthError):
    """Too many other credentials are being checked or wait; these were not."""


@dataclass
class _Check:
    """One running check of a (user, password): its lock, waiters, and its outcome."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    outcome: bool | None = None


class CredentialCache:
    """Thread-safe, bounded, TTL cache of successful Basic verifications."""

    def __init__(
        self,
        ttl_s: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        max_checks: int = DEFAULT_MAX_CHECKS,
        max_waiting: int | None = None,
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self._admitted = max_checks + (
            WAITING_PER_CHECK * max_checks if max_waiting is None else max_waiting
        )
        self._checks = threading.BoundedSemaphore(max_checks)
        self._inflight: dict[bytes, _Check] = {}

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
        same credentials run ``check`` once and share its outcome.

        Raises ChecksBusyError (``check`` not run) when ``max_checks + max_waiting`` other
        credentials are being checked or wait.
        """
        if self.hit(user, password):
            return True
        key = self._digest(user, password)
        with self._lock:
            running = self._inflight.get(key)
            if running is None:
                if len(self._inflight) >= self._admitted:
                    raise ChecksBusyError("too many password checks at once")
                running = self._inflight[key] = _Check()
            running.users += 1
        try:
            with running.lock:
                if running.outcome is None:
                    with self._checks:
                        running.outcome = check()
                    if running.outcome:
                        self.remember(user, password)
                return running.outcome
        finally:
            with self._lock:
                running.users -= 1
                if running.users == 0 and self._inflight.get(key) is running:
                    del self._inflight[key]
