"""Outermost middleware: a response to HEAD never carries a body.

WsgiDAV's error pages (401, 403, 404 ...) are rendered with an HTML body whatever the
method; sent in answer to HEAD, those bytes would be read by a keep-alive client as the start
of the next response. This layer drains and drops any body produced for HEAD, keeping the
headers (including Content-Length, which for HEAD describes the GET response).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wsgidav.mw.base_mw import BaseMiddleware

StartResponse = Callable[..., Any]


class HeadWithoutBody(BaseMiddleware):  # type: ignore[misc]
    """See the module docstring."""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        app_iter = self.next_app(environ, start_response)
        if environ.get("REQUEST_METHOD", "").upper() != "HEAD":
            return app_iter  # type: ignore[no-any-return]
        try:
            for _ in app_iter:
                pass
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        return [b""]
