"""Small WSGI helpers shared by the web surfaces: complete responses, the request path and user."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from davserver.http.environ import StartResponse as StartResponse
from davserver.http.environ import WSGIApp as WSGIApp
from davserver.http.environ import authenticated_user

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


def respond(
    environ: dict[str, Any],
    start_response: StartResponse,
    status: str,
    body: bytes,
    content_type: str = TEXT,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Send a complete response with ``Content-Length``, never cached (no body for HEAD)."""
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *headers,
        ],
    )
    return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def request_path(environ: dict[str, Any]) -> str:
    """The decoded request path as the client sent it, whatever share WsgiDAV moved into
    ``SCRIPT_NAME`` (``/`` for an empty path)."""
    return (str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))) or "/"


def auth_user(environ: dict[str, Any]) -> str | None:
    """The authenticated user of the request, or None."""
    return authenticated_user(environ) or None
