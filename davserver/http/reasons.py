"""Reason phrases (pure).

WsgiDAV knows the reason phrases of a few statuses only and writes ``507 Status`` or ``413
Status`` for the rest; ``phrase`` gives the standard one (RFC 9110 names, e.g. ``413 Content
Too Large``; RFC 4918 ``507 Insufficient Storage``) and ``status_line`` repairs a status line
that carries the placeholder. ``davserver.dav.reasons`` teaches WsgiDAV the same phrases.
"""

from __future__ import annotations

import http

#: Phrases where RFC 9110 renamed the status Python's ``http.HTTPStatus`` still uses.
_RFC9110 = {413: "Content Too Large", 422: "Unprocessable Content"}
_PLACEHOLDER = b" Status"


def phrase(code: int) -> str:
    """The standard reason phrase of ``code`` (``"Status"`` if there is none)."""
    if code in _RFC9110:
        return _RFC9110[code]
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Status"


def status_line(status: bytes) -> bytes:
    """``status`` (``b"507 Status"``) with its placeholder replaced by the real phrase."""
    if status.endswith(_PLACEHOLDER) and status[:3].isdigit():
        return status[:3] + b" " + phrase(int(status[:3])).encode("ascii")
    return status
