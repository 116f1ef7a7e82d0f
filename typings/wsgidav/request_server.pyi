from _typeshed.wsgi import WSGIEnvironment
from wsgidav.dav_provider import DAVProvider, _DAVResource

class RequestServer:
    provider: DAVProvider
    def __init__(self, dav_provider: DAVProvider) -> None: ...
    # Applies the request's conditional headers (If, If-Match, ...) to ``res`` (None: an
    # unmapped URL); raises DAVError (412, 304, ...) when they fail.
    def _evaluate_if_headers(self, res: _DAVResource | None, environ: WSGIEnvironment) -> None: ...
