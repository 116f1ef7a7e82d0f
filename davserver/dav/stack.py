"""The one adapter that puts a plain WSGI middleware into WsgiDAV's ``middleware_stack``.

davsync's middlewares are plain WSGI callables constructed as ``Name(next_app, *, deps...)``
with typed dependencies. Most of them must still run *inside* ``WsgiDAVApp``: after it has
split the share into ``SCRIPT_NAME`` and set ``wsgidav.provider``, inside ``ErrorPrinter``
(which turns a raised ``DAVError`` into its response) and, for most, after
``HTTPAuthenticator`` has set the user. WsgiDAV builds that stack itself, innermost first, and
hands each class entry ``(wsgidav_app, next_app, config)``; :func:`mount` is the class it
wants, building ``factory(next_app)`` and passing every request to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from wsgidav.mw.base_mw import BaseMiddleware

from davserver.http.environ import Environ, StartResponse, WSGIApp

if TYPE_CHECKING:
    from wsgidav.wsgidav_app import WsgiDAVApp

__all__ = ["MiddlewareFactory", "mount"]

MiddlewareFactory = Callable[[WSGIApp], WSGIApp]
"""Builds a middleware around the next application (``partial(Name, **deps)`` or a class)."""


class _Mounted(BaseMiddleware):
    factory: ClassVar[MiddlewareFactory]

    def __init__(
        self,
        wsgidav_app: WsgiDAVApp,
        next_app: WSGIApp,
        config: dict[str, Any],  # WsgiDAV's settings: values of any type, as configured
    ) -> None:
        super().__init__(wsgidav_app, next_app, config)
        self.inner = type(self).factory(next_app)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return self.inner(environ, start_response)


def mount(name: str, factory: MiddlewareFactory) -> type[BaseMiddleware]:
    """A ``middleware_stack`` entry named ``name`` (as WsgiDAV logs it) that builds
    ``factory(next_app)``, so the middleware itself stays a plain WSGI callable."""
    return type(name, (_Mounted,), {"factory": staticmethod(factory)})
