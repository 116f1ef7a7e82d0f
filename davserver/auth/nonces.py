"""Digest nonces the server issued, and which nonce counts were already used.

WsgiDAV issues random Digest nonces but never checks them afterwards, so a captured
``Authorization: Digest`` header could be replayed (for the same method and URI, with any
body) for ever. ``DigestNonceGuard`` closes that: it records every nonce the server sends in a
401 challenge, and accepts Digest credentials only with a nonce it issued less than
``ttl_s`` ago and a nonce count (``nc``) not used before with that nonce. Anything else has
its ``Authorization`` header removed, so the authenticator answers with a fresh challenge, which
clients answer without asking the user again.

Placed directly before WsgiDAV's ``HTTPAuthenticator`` in the middleware stack. Nonces live in
this process's memory: after a restart, clients are simply challenged once more.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wsgidav.mw.base_mw import BaseMiddleware

StartResponse = Callable[..., Any]

_NONCE_RE = re.compile(r'\bnonce="([^"]+)"')
_NC_RE = re.compile(r"\bnc=\"?([0-9a-fA-F]{1,8})\"?")
_QOP_RE = re.compile(r"\bqop=\"?([\w-]+)\"?")

DEFAULT_TTL_S = 3600.0
MAX_NONCES = 20_000
MAX_COUNTS_PER_NONCE = 4096


@dataclass
class _Issued:
    issued_at: float
    used_counts: set[int] = field(default_factory=set)
    used_without_count: bool = False


class NonceRegistry:
    """Thread-safe record of issued nonces and the nonce counts used with each."""

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        max_nonces: int = MAX_NONCES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_s
        self._max = max_nonces
        self._clock = clock
        self._issued: OrderedDict[str, _Issued] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, nonce: str) -> None:
        """Record a nonce sent in a challenge."""
        with self._lock:
            self._issued[nonce] = _Issued(self._clock())
            while len(self._issued) > self._max:
                self._issued.popitem(last=False)

    def accept(self, nonce: str, count: int | None) -> bool:
        """True (and the count is marked used) if ``nonce`` was issued, has not expired and
        ``count`` was not used with it before. Without a count (no ``qop``), a nonce is good
        for one request only."""
        with self._lock:
            entry = self._issued.get(nonce)
            if entry is None:
                return False
            if self._clock() - entry.issued_at > self._ttl:
                del self._issued[nonce]
                return False
            if count is None:
                if entry.used_without_count:
                    return False
                entry.used_without_count = True
                return True
            if count in entry.used_counts or len(entry.used_counts) >= MAX_COUNTS_PER_NONCE:
                return False
            entry.used_counts.add(count)
            return True


def digest_nonce_and_count(header: str) -> tuple[str, int | None] | None:
    """(nonce, nc) of a Digest ``Authorization`` value; None if it has no nonce.

    ``nc`` is None when the client sent no ``qop`` (RFC 2069 style)."""
    nonce = _NONCE_RE.search(header)
    if nonce is None:
        return None
    qop = _QOP_RE.search(header)
    nc = _NC_RE.search(header)
    if qop is None or nc is None:
        return nonce.group(1), None
    return nonce.group(1), int(nc.group(1), 16)


class DigestNonceGuard(BaseMiddleware):  # type: ignore[misc]
    """See the module docstring."""

    def __init__(self, wsgidav_app: Any, next_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, next_app, config)
        self.registry = NonceRegistry()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        header = str(environ.get("HTTP_AUTHORIZATION") or "")
        stale = False
        if header[:7].lower() == "digest ":
            parsed = digest_nonce_and_count(header)
            if parsed is None or not self.registry.accept(*parsed):
                del environ["HTTP_AUTHORIZATION"]  # -> a fresh challenge
                stale = True

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("401"):
                headers = [self._challenge(name, value, stale) for name, value in headers]
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        return self.next_app(environ, recording)  # type: ignore[no-any-return]

    def _challenge(self, name: str, value: str, stale: bool) -> tuple[str, str]:
        """Record the nonce of a Digest challenge; mark it stale after a refused nonce, so
        clients retry with the same credentials instead of asking the user."""
        if name.lower() != "www-authenticate" or value[:7].lower() != "digest ":
            return name, value
        nonce = _NONCE_RE.search(value)
        if nonce is not None:
            self.registry.issue(nonce.group(1))
        return name, (f"{value}, stale=true" if stale else value)
