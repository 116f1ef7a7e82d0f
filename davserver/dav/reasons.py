"""WsgiDAV's reason phrases and logs for expected outcomes.

- ``install_reason_phrases`` adds the standard phrase (``davserver.http.reasons.phrase``) of
  every error status WsgiDAV has none for, so its status lines and error pages read ``507
  Insufficient Storage`` instead of ``507 Status``.
- WsgiDAV's PUT handler logs every failure of the body copy with a traceback, also a refusal
  (``DAVError`` 4xx, 507) or a client that went away. ``ExpectedOutcomeFilter`` turns those
  records into one line without the traceback; unexpected errors keep theirs.
"""

from __future__ import annotations

import http
import logging

from wsgidav import dav_error

from davserver.http.reasons import phrase

#: Loggers whose tracebacks are dropped for expected outcomes.
QUIET_LOGGERS = ("wsgidav.request_server", "wsgidav.error_printer", "wsgidav")


def install_reason_phrases() -> None:
    """Teach WsgiDAV the phrase of every error status it has none for (idempotent)."""
    for status in http.HTTPStatus:
        code = int(status)
        if code >= 400 and code not in dav_error.ERROR_DESCRIPTIONS:
            dav_error.ERROR_DESCRIPTIONS[code] = f"{code} {phrase(code)}"


def is_expected(exc: BaseException | None) -> bool:
    """True for outcomes that are not server faults: a refusal (``DAVError`` below 500, or
    507) or a client that closed the connection."""
    if isinstance(exc, dav_error.DAVError):
        code = int(exc.value)
        return code < 500 or code == dav_error.HTTP_INSUFFICIENT_STORAGE
    return isinstance(exc, (ConnectionError, TimeoutError))


class ExpectedOutcomeFilter(logging.Filter):
    """Strips the traceback of a record about an expected outcome (see ``is_expected``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_expected(exc):
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
        return True


def quiet_expected_outcomes() -> None:
    """Install ``ExpectedOutcomeFilter`` on WsgiDAV's loggers (idempotent)."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ExpectedOutcomeFilter) for f in logger.filters):
            logger.addFilter(ExpectedOutcomeFilter())
