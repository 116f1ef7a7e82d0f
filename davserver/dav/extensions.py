"""Request handling WsgiDAV does not offer, in one middleware placed before RequestResolver:

- GET/HEAD of stored files (RFC 9110 conditionals, multipart ranges, gzip, digest headers);
- ``GET <collection>?inventory``: the whole tree with hashes in one streamed response;
- ``PATCH`` with ``X-Recalculate-Hash`` (Nextcloud; rclone's nextcloud vendor sends it after
  every mod-time change) — WsgiDAV answers 405 to PATCH before any provider hook;
- tus uploads (``davserver.dav.tus``): ``POST`` with ``Tus-Resumable`` on a files collection,
  ``PATCH``/``HEAD``/``DELETE`` of ``/uploads/<user>/<id>``, and the tus headers of ``OPTIONS``;
  requests are routed by their headers in ``__call__``, nowhere else;
- LOCK of an unmapped URL: the empty file is created only once the lock is granted
  (``davserver.dav.lock_null``);
- ``OPTIONS`` outside the shares (``/``, ``/remote.php``), which Explorer probes first: it
  advertises what the shares below do (class 1 and 2, LOCK/UNLOCK, ``MS-Author-Via: DAV``), so
  a client that judges the server by its root does not take it for read-only;
- response headers that resources queue during a request (``X-OC-Mtime: accepted``,
  ``OC-FileId``, ``OC-ETag``, ``OC-Checksum``), which WsgiDAV's handlers cannot add, and the
  ``OC-FileId``/``ETag`` of what a MKCOL, COPY or MOVE created (``davserver.nextcloud.headers``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_METHOD_NOT_ALLOWED,
    DAVError,
)
from wsgidav.mw.base_mw import BaseMiddleware

from davserver.dav import lock_null, tus
from davserver.dav.errors import translated
from davserver.dav.inventory import serve_inventory, wants_inventory
from davserver.dav.provider import DavsyncDAVProvider
from davserver.dav.request import DavRequest
from davserver.dav.resources import FileResource, FolderResource
from davserver.dav.serve_file import serve_file
from davserver.http.environ import StartResponse
from davserver.nextcloud.headers import target_headers
from providers.hashing import normalize_algorithm

DAV_FEATURES = "nextcloud-checksum-update, davsync-inventory, davsync-uploads"
"""Extensions advertised in the ``DAV`` header next to the classes: X-Recalculate-Hash PATCH,
the ``?inventory`` endpoint and resumable upload sessions (clients detect davsync by these)."""
DAV_CLASSES = "1, 2"  # DAV_FEATURES are appended to every OPTIONS answer
ALLOW_ROOT = "OPTIONS, GET, HEAD, PROPFIND, LOCK, UNLOCK"
"""``Allow`` of the virtual collections above the shares. LOCK/UNLOCK are listed because the
shares support them (Explorer's WebClient probes ``/`` and treats a server without LOCK as
read-only); a LOCK of a virtual collection itself is still refused."""


def _with_queued_headers(environ: dict[str, Any], start_response: StartResponse) -> StartResponse:
    def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        queued = DavRequest(environ).queued_response_headers()
        provider = environ.get("wsgidav.provider")
        if status[:1] == "2" and isinstance(provider, DavsyncDAVProvider):
            known = {h.lower() for h, _ in queued}
            queued += [
                (h, v) for h, v in target_headers(environ, provider) if h.lower() not in known
            ]
        if queued and status[:1] == "2":
            present = {h.lower() for h, _ in headers}
            headers = headers + [(h, v) for h, v in queued if h.lower() not in present]
        if environ["REQUEST_METHOD"].upper() == "OPTIONS":
            headers = [(h, f"{v}, {DAV_FEATURES}" if h.lower() == "dav" else v) for h, v in headers]
        if exc_info is None:
            return start_response(status, headers)
        return start_response(status, headers, exc_info)

    return wrapped


class DavsyncExtensions(BaseMiddleware):  # type: ignore[misc]
    """See the module docstring."""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        provider = environ.get("wsgidav.provider")
        start_response = _with_queued_headers(environ, start_response)
        if isinstance(provider, DavsyncDAVProvider):
            tus_handler = tus.route(environ, method)
            if tus_handler is not None:
                return tus_handler(environ, start_response, provider)
            if method in ("GET", "HEAD"):
                res = provider.get_resource_inst(environ["PATH_INFO"], environ)
                if isinstance(res, FileResource):
                    return serve_file(environ, start_response, res)
                if isinstance(res, FolderResource) and wants_inventory(environ):
                    return serve_inventory(environ, start_response, res)
            elif method == "PATCH":
                return self._patch(environ, start_response, provider)
            elif method == "OPTIONS":
                tus.advertise(environ, provider)
            elif method == "LOCK":
                return lock_null.handle_lock(
                    environ, start_response, self.next_app, provider.lock_manager
                )
        elif method == "OPTIONS":
            return self._options_outside(start_response)
        return self.next_app(environ, start_response)  # type: ignore[no-any-return]

    @staticmethod
    def _options_outside(start_response: StartResponse) -> list[bytes]:
        start_response(
            "200 OK",
            [
                ("DAV", DAV_CLASSES),
                ("MS-Author-Via", "DAV"),
                ("Allow", ALLOW_ROOT),
                ("Content-Length", "0"),
            ],
        )
        return [b""]

    @staticmethod
    def _patch(
        environ: dict[str, Any], start_response: StartResponse, provider: DavsyncDAVProvider
    ) -> list[bytes]:
        algorithm = environ.get("HTTP_X_RECALCULATE_HASH")
        if algorithm is None:
            raise DAVError(
                HTTP_METHOD_NOT_ALLOWED,
                context_info="PATCH is supported with X-Recalculate-Hash, or for tus uploads",
            )
        name = normalize_algorithm(algorithm)
        res = provider.get_resource_inst(environ["PATH_INFO"], environ)
        if not isinstance(res, FileResource):
            raise DAVError(404 if res is None else HTTP_METHOD_NOT_ALLOWED)
        with translated():
            digests = provider.ctx.storage.digests(res.storage_path)
        try:
            value = digests.get(name)
        except KeyError as exc:
            raise DAVError(
                HTTP_BAD_REQUEST, context_info=f"unsupported hash algorithm {algorithm!r}"
            ) from exc
        label = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256"}[name]
        start_response(
            "204 No Content",
            [("OC-Checksum", f"{label}:{value}"), ("Content-Length", "0")],
        )
        return [b""]
