"""The last refusal and the last throttling, per user and per client address (in memory).

A *refusal* is a failed login (wrong password or unknown user: a 401 after credentials were
checked), a 4xx answer other than 401 (a plain challenge is part of every Digest login), 404
(asking for something absent is normal for a sync client) and 429, or a 507 (no space); a
*throttle* is a 429. The status page shows them per site, and the most recent
addresses for refusals nobody could be named for. Per-address and per-user entries are
bounded (least recently refused forgotten first): anyone can send credentials for made-up
user names, so neither a scan from many addresses nor one through many names can grow memory
without limit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from davserver.web.access_log import RequestRecord

MAX_ADDRESSES = 1000
MAX_USERS = 10000
MAX_TARGET_CHARS = 512
MAX_NAME_CHARS = 64
"""No user name is longer (``davserver.auth.users``); longer claimed names get no entry."""
"""What is kept of a refused request's target (a request head may be 64 KiB)."""


@dataclass(frozen=True)
class Refusal:
    """One refused or throttled request."""

    time: float
    status: int
    method: str
    target: str
    client: str | None
    user: str | None


def is_refusal(status: int) -> bool:
    """True for the statuses counted as refusals (see the module docstring)."""
    return (400 <= status < 500 and status not in (401, 404, 429)) or status == 507


@dataclass
class _Last:
    refusal: Refusal | None = None
    throttle: Refusal | None = None


def _shortened(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters (the last one ``…``) if longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _newest(slots: OrderedDict[str, _Last], key: str, limit: int) -> _Last:
    """The slot of ``key``, moved to the newest end; the oldest beyond ``limit`` dropped."""
    slot = slots.pop(key, None) or _Last()
    slots[key] = slot
    while len(slots) > limit:
        slots.popitem(last=False)
    return slot


class RefusalTracker:
    """Observer of ``RequestRecord``s; thread-safe; queries return the latest events."""

    def __init__(self, max_addresses: int = MAX_ADDRESSES, max_users: int = MAX_USERS) -> None:
        self._lock = threading.Lock()
        self._users: OrderedDict[str, _Last] = OrderedDict()
        self._addresses: OrderedDict[str, _Last] = OrderedDict()
        self._max_addresses = max_addresses
        self._max_users = max_users

    def __call__(self, record: RequestRecord) -> None:
        throttled = record.status == 429
        if not (throttled or record.auth_failed or is_refusal(record.status)):
            return
        user = record.user or record.attempted_user
        target, name = _shortened(record.target, MAX_TARGET_CHARS), user
        if name is not None:
            name = _shortened(name, MAX_NAME_CHARS)
        event = Refusal(record.time, record.status, record.method, target, record.client, name)
        with self._lock:
            slots = []
            if user and len(user) <= MAX_NAME_CHARS:
                slots.append(_newest(self._users, user, self._max_users))
            if record.client:
                slots.append(_newest(self._addresses, record.client, self._max_addresses))
            for slot in slots:
                if throttled:
                    slot.throttle = event
                else:
                    slot.refusal = event

    def tracked_users(self) -> int:
        """How many user names the tracker holds an event for."""
        with self._lock:
            return len(self._users)

    def last_for_user(self, user: str) -> tuple[Refusal | None, Refusal | None]:
        """(last refusal, last throttle) of ``user``."""
        with self._lock:
            slot = self._users.get(user) or _Last()
            return slot.refusal, slot.throttle

    def recent_addresses(self, limit: int = 20) -> list[Refusal]:
        """The newest event of each of the last ``limit`` addresses, newest first."""
        with self._lock:
            events = [
                e
                for slot in self._addresses.values()
                for e in (slot.refusal, slot.throttle)
                if e is not None
            ]
        events.sort(key=lambda e: e.time, reverse=True)
        seen: set[str | None] = set()
        out: list[Refusal] = []
        for e in events:
            if e.client not in seen:
                seen.add(e.client)
                out.append(e)
        return out[:limit]
