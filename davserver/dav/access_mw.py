"""Access-control middleware: every method and every Destination is checked against the
``AccessPolicy`` before WsgiDAV sees the request. Placed after authentication."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlparse

from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_FORBIDDEN, HTTP_METHOD_NOT_ALLOWED, DAVError

from davserver.access import READ_METHODS, AccessPolicy
from davserver.dav.provider import DavsyncDAVProvider, VirtualRootProvider
from davserver.dav.request import DavRequest
from davserver.http.environ import Environ, StartResponse, WSGIApp
from davserver.namespace import SHARES, Location, resolve, resolve_in_share
from providers.errors import InvalidPathError


class AccessControl:
    """Refuses (403) what the policy does not allow; 400 for paths the path policy rejects."""

    def __init__(self, next_app: WSGIApp, *, policy: AccessPolicy) -> None:
        self.next_app = next_app
        self.policy = policy

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        provider = environ.get("wsgidav.provider")
        if isinstance(provider, DavsyncDAVProvider):
            self._check(environ, provider)
        elif isinstance(provider, VirtualRootProvider):
            self._check_outside_shares(environ)
        return self.next_app(environ, start_response)

    @staticmethod
    def _check_outside_shares(environ: Environ) -> None:
        """405 for a write outside every share (``/files/alice/x``, ``/x``), saying where
        files go: WsgiDAV's own 405 there names no reason."""
        method = environ["REQUEST_METHOD"].upper()
        if method in READ_METHODS or method == "POST":
            return
        home = f"{SHARES[0]}/files/{DavRequest(environ).user or '<user>'}/"
        raise DAVError(
            HTTP_METHOD_NOT_ALLOWED,
            context_info=f"nothing can be written here; files go below {home}",
        )

    def _check(self, environ: Environ, provider: DavsyncDAVProvider) -> None:
        method = environ["REQUEST_METHOD"].upper()
        user = DavRequest(environ).user
        try:
            loc = resolve_in_share(provider.share_path, environ.get("PATH_INFO") or "/")
        except InvalidPathError as exc:
            raise DAVError(HTTP_BAD_REQUEST, context_info=str(exc)) from exc
        # COPY only reads its source: a read grant is enough to copy out of a home.
        self._require(loc, user, "GET" if method == "COPY" else method)
        destination = environ.get("HTTP_DESTINATION")
        if destination and method in ("COPY", "MOVE"):
            self._require(self._destination(destination), user, "PUT")

    def _require(self, loc: Location, user: str, method: str) -> None:
        if loc.kind == "home":
            if loc.area == "uploads" and loc.home != user:
                raise DAVError(HTTP_FORBIDDEN, context_info="upload sessions are per user")
            if not self.policy.allows(user, loc.home, method):
                raise DAVError(HTTP_FORBIDDEN, context_info=f"no access to home {loc.home!r}")
        elif method not in READ_METHODS and method != "POST":
            raise DAVError(HTTP_FORBIDDEN, context_info="this collection is read-only")

    @staticmethod
    def _destination(header: str) -> Location:
        path = unquote(urlparse(header, allow_fragments=False).path)
        try:
            return resolve(path)
        except InvalidPathError as exc:
            raise DAVError(HTTP_BAD_REQUEST, context_info=f"Destination: {exc}") from exc
