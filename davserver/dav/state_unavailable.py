"""A state database that does not answer is ``503 Service Unavailable``, not a 500.

``StateUnavailable`` sits right inside WsgiDAV's ``ErrorPrinter``. When a request fails
because the state database cannot be used (PostgreSQL down or restarting, a SQLite file
locked beyond its busy timeout: ``sqlite3.OperationalError`` on both engines, see
``providers.statedb``), the client gets ``503`` with ``Retry-After`` and the log one warning
line instead of a traceback. Nothing was committed (the transaction was rolled back), and
the next request reconnects by itself. A response already started is left alone.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from wsgidav.dav_error import DAVError

from davserver.http.environ import Environ, StartResponse, WSGIApp

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

_log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
_BODY = b"The server's state database is unavailable; retry shortly.\n"


def state_failure(exc: BaseException) -> sqlite3.OperationalError | None:
    """The state-database failure behind ``exc`` (itself, or the source of a DAVError)."""
    if isinstance(exc, DAVError):
        exc = exc.src_exception if isinstance(exc.src_exception, BaseException) else exc
    return exc if isinstance(exc, sqlite3.OperationalError) else None


class StateUnavailable:
    """See the module docstring."""

    def __init__(self, next_app: WSGIApp) -> None:
        self.next_app = next_app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = False

        def tracking(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            nonlocal started
            started = True
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        try:
            return self.next_app(environ, tracking)
        except Exception as exc:
            failure = state_failure(exc)
            if failure is None or started:
                raise
            _log.warning(
                "%s %s: state database unavailable (%s); answered 503",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                str(failure).strip().splitlines()[0] if str(failure).strip() else "",
            )
            start_response(
                "503 Service Unavailable",
                [
                    ("Retry-After", str(RETRY_AFTER_S)),
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_BODY))),
                ],
            )
            return [_BODY]
