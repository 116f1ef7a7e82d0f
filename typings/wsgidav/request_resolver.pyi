from collections.abc import Iterable

from _typeshed.wsgi import StartResponse, WSGIEnvironment
from wsgidav.mw.base_mw import BaseMiddleware

class RequestResolver(BaseMiddleware):
    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]: ...
