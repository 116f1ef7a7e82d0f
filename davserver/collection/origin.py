"""Who is committing a file, and how: the request-scoped origin of an arrival.

``OriginScope`` wraps the whole WSGI application (outside every middleware) and remembers the
request's ``environ`` in a context variable for the duration of the call. The environ is read
lazily when a file is committed, so the values the inner layers settle on are used: the
client address after trusted-proxy rewriting, the user after authentication.

Storage writes made outside a request (trigger actions, maintenance) set an explicit origin
with ``origin_scope``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from davserver.http.environ import USER_KEY, StartResponse, WSGIApp

PROTOCOL_KEY = "davsync.protocol"  # set by davserver.gateways.inprocess (form, ftp, mail)


@dataclass(frozen=True, slots=True)
class Origin:
    """The actor (authenticated user), the request method and the client address."""

    actor: str | None
    method: str
    client: str | None


_ENVIRON: ContextVar[dict[str, Any] | None] = ContextVar("davsync_request_environ", default=None)
_EXPLICIT: ContextVar[Origin | None] = ContextVar("davsync_origin", default=None)


def current_origin() -> Origin | None:
    """The origin of the storage write being made now, or None outside any request."""
    explicit = _EXPLICIT.get()
    if explicit is not None:
        return explicit
    environ = _ENVIRON.get()
    if environ is None:
        return None
    gateway = environ.get(PROTOCOL_KEY)  # a gateway's in-process request names its protocol
    method = f"@{gateway}" if gateway else str(environ.get("REQUEST_METHOD") or "").upper()
    return Origin(
        actor=str(environ.get(USER_KEY) or "") or None,
        method=method,
        client=str(environ.get("REMOTE_ADDR") or "") or None,
    )


@contextlib.contextmanager
def origin_scope(origin: Origin) -> Iterator[None]:
    """Attribute storage writes made inside the block to ``origin``."""
    token = _EXPLICIT.set(origin)
    try:
        yield
    finally:
        _EXPLICIT.reset(token)


class OriginScope:
    """WSGI wrapper that makes the request's environ the origin of writes made while the
    inner application runs: during the call and while its response is iterated (WsgiDAV
    handles a request inside its response generator)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        token = _ENVIRON.set(environ)
        try:
            result = self.app(environ, start_response)
        finally:
            _ENVIRON.reset(token)
        return _ScopedResponse(result, environ)


class _ScopedResponse:
    """A response iterable that re-enters the request's origin for each chunk."""

    def __init__(self, result: Iterable[bytes], environ: dict[str, Any]) -> None:
        self._result = result
        self._environ = environ

    def __iter__(self) -> Iterator[bytes]:
        token = _ENVIRON.set(self._environ)
        try:
            iterator = iter(self._result)
        finally:
            _ENVIRON.reset(token)
        while True:
            token = _ENVIRON.set(self._environ)
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            finally:
                _ENVIRON.reset(token)
            yield chunk

    def close(self) -> None:
        """Close the inner response (WSGI requires it), inside the request's origin."""
        close = getattr(self._result, "close", None)
        if close is not None:
            token = _ENVIRON.set(self._environ)
            try:
                close()
            finally:
                _ENVIRON.reset(token)


# How a commit came about, by the operation the provider saw and the request method.
_COMMIT_PROTOCOLS = {"PUT": "put", "MOVE": "chunked", "POST": "tus", "PATCH": "tus"}
_NOT_ARRIVALS = frozenset({"LOCK"})  # a LOCK on an unmapped URL creates an empty placeholder


def protocol_of(operation: str, origin: Origin | None) -> str | None:
    """The protocol name of an arrival (``put``, ``chunked``, ``tus``, ``move``, ``copy``,
    ``trigger``, ``local``), or None when the write is not an arrival (a LOCK placeholder).

    ``operation`` is ``commit``, ``move`` or ``copy``. A commit made by a MOVE request is a
    chunked-upload assembly (a plain MOVE renames and never commits); by PATCH or POST, a tus
    upload's last part.
    """
    method = origin.method if origin is not None else ""
    if method in _NOT_ARRIVALS:
        return None
    if method.startswith("@"):  # explicit, non-HTTP origins name their protocol
        return method[1:]
    if operation != "commit":
        return operation
    return _COMMIT_PROTOCOLS.get(method, method.lower() or "local")
