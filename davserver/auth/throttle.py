"""In-memory throttling of failed logins, per account and per client address.

Policy: a key (an account name, or a client address) is locked for ``lockout_s`` seconds when
it reaches ``max_failures`` failures within the last ``window_s`` seconds. The failures stay
counted for the rest of the window, so after a lockout ends every further failure inside the
window locks the key again at once: a guesser gets ``max_failures`` tries, then one try per
``lockout_s``.

A success clears the account's failures, but not the address's, so a valid account cannot be
used to reset the address counter while guessing passwords of other accounts.

Note the trade-off of per-account locking: anybody can keep a known account locked by failing
logins for it (for ``lockout_s`` per failure). IPv6 addresses are counted per /64 network, as a
single host usually has a whole /64.

Memory is bounded: at most ``max_keys`` accounts and ``max_keys`` addresses are tracked; keys
without recent failures are dropped first, then the least recently failed ones.

The state lives in one process; several server processes each throttle on their own.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LoginThrottle"]


@dataclass(slots=True)
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = float("-inf")


def _addr_key(addr: str) -> str:
    """Normalize a client address: IPv4-mapped IPv6 to IPv4, other IPv6 to its /64."""
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return addr
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class _Table:
    """Failure records of one kind of key; the caller holds the lock."""

    def __init__(self, throttle: LoginThrottle) -> None:
        self._t = throttle
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def wait(self, key: str, now: float) -> float | None:
        entry = self._entries.get(key)
        if entry is None or entry.locked_until <= now:
            return None
        return entry.locked_until - now

    def fail(self, key: str, now: float) -> None:
        t = self._t
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        else:
            self._entries.move_to_end(key)
        failures = entry.failures
        while failures and failures[0] <= now - t.window_s:
            failures.popleft()
        failures.append(now)
        while len(failures) > t.max_failures:
            failures.popleft()
        if len(failures) >= t.max_failures:
            entry.locked_until = now + t.lockout_s
        self._evict(now)

    def clear(self, key: str) -> None:
        self._entries.pop(key, None)

    def _evict(self, now: float) -> None:
        # Entries are ordered by their last failure, oldest first; an entry whose last failure
        # is older than both the window and the lockout no longer matters.
        horizon = now - max(self._t.window_s, self._t.lockout_s)
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.failures[-1] <= horizon or len(self._entries) > self._t.max_keys:
                del self._entries[key]
            else:
                break


class LoginThrottle:
    """Counts failed logins and says when a client must wait (see the module docstring).

    Thread-safe. ``None`` for a user or address means "not known" and is ignored.

    Args:
        max_failures: failures within ``window_s`` that lock a key (>= 1).
        window_s: how long a failure is remembered, in seconds (> 0).
        lockout_s: how long a key stays locked, in seconds (> 0).
        clock: monotonic time source in seconds (replaceable for tests).
        max_keys: most accounts, and most addresses, tracked at a time (>= 1).

    Raises:
        ValueError: a parameter is out of range.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 300,
        lockout_s: float = 60,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 10_000,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be >= 1")
        if window_s <= 0 or lockout_s <= 0:
            raise ValueError("window_s and lockout_s must be > 0")
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.max_failures = max_failures
        self.window_s = float(window_s)
        self.lockout_s = float(lockout_s)
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._users = _Table(self)
        self._addrs = _Table(self)

    def check(self, user: str | None, addr: str | None) -> float | None:
        """Seconds to wait (a ``Retry-After`` value, > 0) if the account or address is locked.

        Returns ``None`` if neither is locked. When both are, the longer wait is returned.
        """
        with self._lock:
            now = self._clock()
            waits = [
                w
                for w in (
                    self._users.wait(user, now) if user is not None else None,
                    self._addrs.wait(_addr_key(addr), now) if addr is not None else None,
                )
                if w is not None
            ]
        return max(waits) if waits else None

    def record_failure(self, user: str | None, addr: str | None) -> None:
        """Count a failed login for the account ``user`` and the client ``addr``."""
        with self._lock:
            now = self._clock()
            if user is not None:
                self._users.fail(user, now)
            if addr is not None:
                self._addrs.fail(_addr_key(addr), now)

    def record_success(self, user: str | None, addr: str | None) -> None:
        """Forget the failures of the account ``user``.

        The failures of ``addr`` are deliberately kept (see the module docstring); the
        parameter exists for symmetry with :meth:`record_failure`.
        """
        del addr
        if user is None:
            return
        with self._lock:
            self._users.clear(user)

    def tracked(self) -> tuple[int, int]:
        """Number of (accounts, addresses) currently tracked."""
        with self._lock:
            return len(self._users), len(self._addrs)
