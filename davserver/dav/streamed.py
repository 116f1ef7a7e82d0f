"""Responses whose length is not known when they start (streamed inventories, gzip bodies).

``WsgiDAVApp`` wraps ``start_response`` and, for every 2xx answer without ``Content-Length``,
logs ``ERROR Missing required Content-Length header`` plus a ``WARNING`` that it adds
``Connection: close``. For a body that is generated while it is sent that is the intended
HTTP/1.1 framing, not an error: closing the connection after the body delimits it, and
nothing is wrong with the request.

``start_streamed`` starts such a response and marks the request (in its environ);
``RequestScope``, wrapped directly around ``WsgiDAVApp``, remembers which request the current
thread is serving, so that ``UnknownLengthLogFilter`` (installed on WsgiDAV's logger by
``install``) drops exactly those two records for marked requests and nothing else: a handler
that forgets ``Content-Length`` by mistake still produces the ERROR. (The mark must live in
the environ, not in the call: WsgiDAV's ``ErrorPrinter`` passes ``start_response`` on only
when the first body chunk arrives.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from davserver.http.environ import Environ, StartResponse, WSGIApp

WSGIDAV_APP_LOGGER = "wsgidav.wsgidav_app"
ENV_STREAMED = "davsync.streamed_response"
_MESSAGES = ("Missing required Content-Length header", "Adding 'Connection: close' header")

_current = threading.local()


def start_streamed(
    environ: Environ,
    start_response: StartResponse,
    status: str,
    headers: list[tuple[str, str]],
) -> Callable[[bytes], object]:
    """``start_response(status, headers)`` for a body of unknown length (see module doc)."""
    environ[ENV_STREAMED] = True
    return start_response(status, headers)


class RequestScope:
    """Records the environ of the request the current thread serves (see module doc)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        _current.environ = environ
        result = self.app(environ, start_response)
        try:
            for chunk in result:
                _current.environ = environ
                yield chunk
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            _current.environ = None


class UnknownLengthLogFilter(logging.Filter):
    """Drops WsgiDAV's missing-length records for requests marked by ``start_streamed``."""

    def filter(self, record: logging.LogRecord) -> bool:
        environ = getattr(_current, "environ", None)
        if not environ or not environ.get(ENV_STREAMED):
            return True
        return not record.getMessage().startswith(_MESSAGES)


def install() -> None:
    """Add the filter to WsgiDAV's application logger (once per process)."""
    logger = logging.getLogger(WSGIDAV_APP_LOGGER)
    if not any(isinstance(f, UnknownLengthLogFilter) for f in logger.filters):
        logger.addFilter(UnknownLengthLogFilter())
