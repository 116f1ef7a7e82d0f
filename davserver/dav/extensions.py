"""Request handling WsgiDAV does not offer, as registered parts behind one middleware placed
before RequestResolver.

Each ``Extension`` declares what it adds to an ``OPTIONS`` answer (``DAV`` features, ``Allow``
verbs) and may answer requests of its own (``answer`` returns None for a request that is not
its). ``EXTENSIONS`` is the registry, asked in order; the first answer wins, and a request no
part answers goes on to WsgiDAV:

- tus uploads (``davserver.dav.tus``): ``POST`` with ``Tus-Resumable`` on a files collection,
  ``PATCH``/``HEAD``/``DELETE`` of ``/uploads/<user>/<id>``, and the tus headers of
  ``OPTIONS``; requests are routed by their headers in ``tus.route``, nowhere else;
- ``PATCH`` with ``X-Recalculate-Hash`` (``davserver.dav.hash_patch``) — WsgiDAV answers 405
  to PATCH before any provider hook;
- ``GET <collection>?inventory``: the whole tree with hashes in one streamed response;
- GET/HEAD of stored files (RFC 9110 conditionals, multipart ranges, gzip, digest headers);
- resumable chunked upload sessions (served by the provider's ``/uploads`` resources; only
  their feature is declared here);
- LOCK of an unmapped URL: the empty file is created only once the lock is granted
  (``davserver.dav.lock_null``).

The middleware itself also answers ``OPTIONS`` outside the shares (``/``, ``/remote.php``),
which Explorer probes first: it advertises what the shares below do (class 1 and 2,
LOCK/UNLOCK, ``MS-Author-Via: DAV``), so a client that judges the server by its root does not
take it for read-only; and it sends the response headers resources queue on the request
(``DavRequest.add_response_header``: ``X-OC-Mtime: accepted``, ``OC-FileId``, ``OC-ETag``,
``OC-Checksum``), which WsgiDAV's handlers cannot add, and the ``OC-FileId``/``ETag`` of what
a MKCOL, COPY or MOVE created (``davserver.nextcloud.headers``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from davserver.dav import lock_null, tus
from davserver.dav.hash_patch import answer_hash_patch
from davserver.dav.inventory import serve_inventory, wants_inventory
from davserver.dav.provider import DavsyncDAVProvider
from davserver.dav.request import DavRequest
from davserver.dav.resources import FileResource, FolderResource
from davserver.dav.serve_file import serve_file
from davserver.http.environ import Environ, StartResponse, WSGIApp
from davserver.nextcloud.headers import target_headers

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

Answer = Callable[[DavRequest, StartResponse, DavsyncDAVProvider, WSGIApp], Iterable[bytes] | None]
"""(request, start_response, provider, next app) -> the response, or None: not this part's."""


@dataclass(frozen=True)
class Extension:
    """One part beyond WsgiDAV: its ``DAV`` features, the ``Allow`` verbs it adds inside the
    shares, and the requests it answers (``answer`` None: it only declares)."""

    name: str
    dav_features: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    answer: Answer | None = None


def _answer_tus(
    request: DavRequest, start_response: StartResponse, provider: DavsyncDAVProvider, _: WSGIApp
) -> Iterable[bytes] | None:
    if request.method == "OPTIONS":
        tus.advertise(request.environ, provider)
        return None
    handler = tus.route(request.environ, request.method)
    return None if handler is None else handler(request.environ, start_response, provider)


def _answer_patch(
    request: DavRequest, start_response: StartResponse, provider: DavsyncDAVProvider, _: WSGIApp
) -> Iterable[bytes] | None:
    if request.method != "PATCH":
        return None
    return answer_hash_patch(request, start_response, provider)


def _answer_inventory(
    request: DavRequest, start_response: StartResponse, provider: DavsyncDAVProvider, _: WSGIApp
) -> Iterable[bytes] | None:
    if request.method not in ("GET", "HEAD") or not wants_inventory(request.environ):
        return None
    res = provider.get_resource_inst(request.environ["PATH_INFO"], request.environ)
    if isinstance(res, FolderResource):
        return serve_inventory(request.environ, start_response, res)
    if isinstance(res, FileResource):  # ``?inventory`` means nothing for a file
        return serve_file(request.environ, start_response, res)
    return None


def _answer_file(
    request: DavRequest, start_response: StartResponse, provider: DavsyncDAVProvider, _: WSGIApp
) -> Iterable[bytes] | None:
    if request.method not in ("GET", "HEAD"):
        return None
    res = provider.get_resource_inst(request.environ["PATH_INFO"], request.environ)
    return (
        serve_file(request.environ, start_response, res) if isinstance(res, FileResource) else None
    )


def _answer_lock(
    request: DavRequest,
    start_response: StartResponse,
    provider: DavsyncDAVProvider,
    next_app: WSGIApp,
) -> Iterable[bytes] | None:
    if request.method != "LOCK":
        return None
    return lock_null.handle_lock(request.environ, start_response, next_app, provider.lock_manager)


EXTENSIONS: tuple[Extension, ...] = (
    Extension("tus", allow=("PATCH", "POST"), answer=_answer_tus),
    Extension("hash-patch", dav_features=("nextcloud-checksum-update",), answer=_answer_patch),
    Extension("inventory", dav_features=("davsync-inventory",), answer=_answer_inventory),
    Extension("file-serving", answer=_answer_file),
    Extension("chunked-uploads", dav_features=("davsync-uploads",)),
    Extension("lock-null", answer=_answer_lock),
)
"""The registry, in the order requests are offered to the parts (tus routes by headers, so
it goes first; inventory before plain file serving)."""

DAV_CLASSES = "1, 2"
"""The DAV compliance classes of the shares; the features of ``EXTENSIONS`` follow them."""
ALLOW_ROOT = "OPTIONS, GET, HEAD, PROPFIND, LOCK, UNLOCK"
"""``Allow`` of the virtual collections above the shares. LOCK/UNLOCK are listed because the
shares support them (Explorer's WebClient probes ``/`` and treats a server without LOCK as
read-only); a LOCK of a virtual collection itself is still refused."""


def dav_features(extensions: Iterable[Extension] = EXTENSIONS) -> list[str]:
    """The features the parts declare, in registry order, each once."""
    return list(dict.fromkeys(f for ext in extensions for f in ext.dav_features))


def allow_verbs(extensions: Iterable[Extension] = EXTENSIONS) -> list[str]:
    """The verbs the parts add to ``Allow`` inside the shares, in registry order, each once."""
    return list(dict.fromkeys(v for ext in extensions for v in ext.allow))


def _options_headers(headers: list[tuple[str, str]], *, in_share: bool) -> list[tuple[str, str]]:
    """``DAV`` with the declared features appended; inside a share, ``Allow`` with the verbs
    the parts add."""
    features = ", ".join(dav_features())
    out: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() == "dav":
            value = f"{value}, {features}"
        elif name.lower() == "allow" and in_share:
            present = {v.strip().upper() for v in value.split(",")}
            extra = [v for v in allow_verbs() if v not in present]
            value = ", ".join([value, *extra]) if extra else value
        out.append((name, value))
    return out


def _with_queued_headers(
    request: DavRequest, start_response: StartResponse, provider: DavsyncDAVProvider | None
) -> StartResponse:
    def wrapped(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        queued = request.queued_response_headers()
        if status[:1] == "2" and provider is not None:
            known = {h.lower() for h, _ in queued}
            queued += [
                (h, v)
                for h, v in target_headers(request.environ, provider)
                if h.lower() not in known
            ]
        if queued and status[:1] == "2":
            present = {h.lower() for h, _ in headers}
            headers = headers + [(h, v) for h, v in queued if h.lower() not in present]
        if request.method == "OPTIONS":
            headers = _options_headers(headers, in_share=provider is not None)
        if exc_info is None:
            return start_response(status, headers)
        return start_response(status, headers, exc_info)

    return wrapped


class DavsyncExtensions:
    """See the module docstring."""

    def __init__(self, next_app: WSGIApp) -> None:
        self.next_app = next_app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request = DavRequest(environ)
        found = environ.get("wsgidav.provider")
        provider = found if isinstance(found, DavsyncDAVProvider) else None
        start_response = _with_queued_headers(request, start_response, provider)
        next_app = self.next_app
        if provider is None:
            if request.method == "OPTIONS":
                return self._options_outside(start_response)
            return next_app(environ, start_response)
        for extension in EXTENSIONS:
            if extension.answer is None:
                continue
            answer = extension.answer(request, start_response, provider, next_app)
            if answer is not None:
                return answer
        return next_app(environ, start_response)

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
