"""Responses whose length is not known when they start (streamed inventories, gzip bodies).

``WsgiDAVApp`` wraps ``start_response`` and, for every 2xx answer without ``Content-Length``,
logs ``ERROR Missing required Content-Length header`` plus a ``WARNING`` that it adds
``Connection: close``. For a body that is generated while it is sent that is the intended
HTTP/1.1 framing, not an error: the connection is closed after the body (which delimits it),
and nothing is wrong with the request. ``start_streamed`` starts such a response and marks
the current thread for the duration of the call, so that ``UnknownLengthLogFilter`` (installed
on WsgiDAV's logger by ``install``) drops exactly those two records and nothing else: a
handler that forgets ``Content-Length`` by mistake still produces the ERROR.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

StartResponse = Callable[..., Any]

WSGIDAV_APP_LOGGER = "wsgidav.wsgidav_app"
_MESSAGES = ("Missing required Content-Length header", "Adding 'Connection: close' header")

_state = threading.local()


def start_streamed(
    start_response: StartResponse, status: str, headers: list[tuple[str, str]]
) -> Any:
    """``start_response(status, headers)`` for a body of unknown length (see module doc)."""
    _state.active = True
    try:
        return start_response(status, headers)
    finally:
        _state.active = False


class UnknownLengthLogFilter(logging.Filter):
    """Drops WsgiDAV's missing-length records emitted inside ``start_streamed``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(_state, "active", False):
            return True
        return not record.getMessage().startswith(_MESSAGES)


def install() -> None:
    """Add the filter to WsgiDAV's application logger (once per process)."""
    logger = logging.getLogger(WSGIDAV_APP_LOGGER)
    if not any(isinstance(f, UnknownLengthLogFilter) for f in logger.filters):
        logger.addFilter(UnknownLengthLogFilter())
