"""Reason phrases and quiet logs for expected outcomes.

- WsgiDAV knows the reason phrases of a few statuses only and writes ``507 Status`` or
  ``413 Status`` for the rest (status line and error page). ``install_reason_phrases`` adds
  the standard phrase of every status it lacks (RFC 9110 names, e.g. ``413 Content Too
  Large``; RFC 4918 ``507 Insufficient Storage``), and ``status_line`` repairs a status line
  that still carries the placeholder.
- WsgiDAV's PUT handler logs every failure of the body copy with a traceback, also a refusal
  (``DAVError`` 4xx, 507) or a client that went away. ``ExpectedOutcomeFilter`` turns those
  records into one line without the traceback; unexpected errors keep theirs.
"""

from __future__ import annotations

import http
import logging

from wsgidav import dav_error

#: Phrases where RFC 9110 renamed the status Python's ``http.HTTPStatus`` still uses.
_RFC9110 = {413: "Content Too Large", 422: "Unprocessable Content"}
_PLACEHOLDER = b" Status"
#: Loggers whose tracebacks are dropped for expected outcomes.
QUIET_LOGGERS = ("wsgidav.request_server", "wsgidav.error_printer", "wsgidav")


def phrase(code: int) -> str:
    """The standard reason phrase of ``code`` (``"Status"`` if there is none)."""
    if code in _RFC9110:
        return _RFC9110[code]
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Status"


def install_reason_phrases() -> None:
    """Teach WsgiDAV the phrase of every status it has none for (idempotent)."""
    for status in http.HTTPStatus:
        code = int(status)
        if code >= 400 and code not in dav_error.ERROR_DESCRIPTIONS:
            dav_error.ERROR_DESCRIPTIONS[code] = f"{code} {phrase(code)}"


def status_line(status: bytes) -> bytes:
    """``status`` (``b"507 Status"``) with its placeholder replaced by the real phrase."""
    if status.endswith(_PLACEHOLDER) and status[:3].isdigit():
        return status[:3] + b" " + phrase(int(status[:3])).encode("ascii")
    return status


def is_expected(exc: BaseException | None) -> bool:
    """True for outcomes that are not server faults: a refusal (``DAVError`` below 500, or
    507) or a client that closed the connection."""
    if isinstance(exc, dav_error.DAVError):
        code = int(exc.value)
        return code < 500 or code == dav_error.HTTP_INSUFFICIENT_STORAGE
    return isinstance(exc, (ConnectionError, TimeoutError, BrokenPipeError))


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
