"""Small WSGI helpers shared by the web surfaces: complete responses and the adapter that puts a
plain WSGI middleware into WsgiDAV's ``middleware_stack``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from wsgidav.mw.base_mw import BaseMiddleware

from davserver.http.environ import StartResponse as StartResponse
from davserver.http.environ import authenticated_user

WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
MiddlewareFactory = Callable[[WSGIApp], WSGIApp]

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


class _Mounted(BaseMiddleware):  # type: ignore[misc]  # untyped base
    factory: ClassVar[MiddlewareFactory]

    def __init__(self, wsgidav_app: Any, next_app: WSGIApp, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, next_app, config)
        self.inner = type(self).factory(next_app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return self.inner(environ, start_response)


def mount(name: str, factory: MiddlewareFactory) -> type[BaseMiddleware]:
    """A ``middleware_stack`` entry (WsgiDAV wants a ``BaseMiddleware`` class) that builds
    ``factory(next_app)``, so the middleware itself stays a plain WSGI callable."""
    return type(name, (_Mounted,), {"factory": staticmethod(factory)})
