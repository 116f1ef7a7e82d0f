"""Reading a WSGI environ: the ``start_response`` type, the authenticated user, the request
headers and the declared body length.

Framework-free like the rest of this package: WsgiDAV's authenticator sets ``USER_KEY``, and
every reader of the user goes through ``authenticated_user`` so the key is spelled once.
"""

from __future__ import annotations

import wsgiref.types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from davserver.errors import DavserverError

Environ = dict[str, Any]
"""A WSGI environ (PEP 3333): CGI variables, ``wsgi.*`` and server/framework keys."""

StartResponse = wsgiref.types.StartResponse
"""The WSGI ``start_response`` callable (status, headers[, exc_info]) -> write."""

WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
"""A WSGI application (PEP 3333); a middleware is one built around the next application."""

USER_KEY = "wsgidav.auth.user_name"
"""The environ key the authenticator stores the user name under (absent: anonymous)."""


class ContentLengthError(DavserverError, ValueError):
    """A ``Content-Length`` that is not a decimal number of bytes."""


def authenticated_user(environ: Mapping[str, Any]) -> str:
    """The authenticated user of the request, or "" when it is anonymous."""
    return str(environ.get(USER_KEY) or "")


def request_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The request's HTTP headers with lower-case, dash-separated names."""
    out = {k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")}
    if "CONTENT_TYPE" in environ:
        out["content-type"] = environ["CONTENT_TYPE"]
    if "CONTENT_LENGTH" in environ:
        out["content-length"] = environ["CONTENT_LENGTH"]
    return out


def is_chunked(environ: Mapping[str, Any]) -> bool:
    """True if the body comes with chunked transfer coding (its length is unknown)."""
    return "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()


def declared_length(environ: Mapping[str, Any]) -> int | None:
    """The body length the client announced: None when chunked or absent.

    Raises ContentLengthError for a value that is not ASCII digits (the request guard refuses
    those before any handler runs, so handlers only meet this on a direct call).
    """
    if is_chunked(environ):
        return None
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise ContentLengthError(f"invalid Content-Length: {raw!r}")
    return int(raw)
