"""tus 1.0.0 (core, creation, creation-with-upload, checksum, termination, expiration).

WsgiDAV answers PATCH with 405 before any provider hook, so tus requests are answered here,
called by the extensions middleware, which routes them by header (``route``):

- ``POST <files collection>/`` with ``Tus-Resumable`` creates an upload that lands in that
  collection under the ``Upload-Metadata`` filename (as ownCloud Infinite Scale does, which
  rclone's ``infinitescale`` vendor needs): ``201`` + absolute ``Location``
  ``<share>/uploads/<user>/tus-<id>``.
- ``PATCH`` (with ``Tus-Resumable`` or ``Content-Type: application/offset+octet-stream``),
  ``HEAD`` and ``DELETE`` (with ``Tus-Resumable``) of ``<share>/uploads/<user>/<id>``.

``OPTIONS`` anywhere in a share advertises ``Tus-Version``, ``Tus-Extension``,
``Tus-Checksum-Algorithm`` and, when a limit is configured, ``Tus-Max-Size``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from urllib.parse import quote

from wsgidav.dav_error import DAVError

from davserver.dav.provider import DavsyncDAVProvider
from davserver.dav.request import DavRequest
from davserver.dav.upload_errors import TUS_CHECKSUM_MISMATCH, error_status
from davserver.errors import DavserverError
from davserver.http.environ import Environ, StartResponse
from davserver.namespace import Location, resolve_in_share
from davserver.uploads import protocol
from davserver.uploads.errors import (
    OffsetMismatchError,
    ProtocolError,
    SessionNotFoundError,
    TusVersionError,
    UploadError,
)
from davserver.uploads.service import TusState, UploadService
from providers.errors import ProviderError

Handler = Callable[[Environ, StartResponse, DavsyncDAVProvider], Iterable[bytes]]

_REASONS = {TUS_CHECKSUM_MISMATCH: "Checksum Mismatch"}


class _TusResponseError(DavserverError):
    """An error answer with extra headers (raised inside handlers)."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


def route(environ: Environ, method: str) -> Handler | None:
    """The tus handler for this request, or None if it is not a tus request."""
    tus_header = "HTTP_TUS_RESUMABLE" in environ
    if method == "POST" and tus_header:
        return _create
    content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if method == "PATCH" and (tus_header or content_type == protocol.TUS_CONTENT_TYPE):
        return _patch
    if method == "HEAD" and tus_header and _in_uploads(environ):
        return _head
    if method == "DELETE" and tus_header and _in_uploads(environ):
        return _delete
    return None


def advertise(environ: Environ, provider: DavsyncDAVProvider) -> None:
    """Queue the tus discovery headers for an OPTIONS response."""
    request = DavRequest(environ)
    request.add_response_header("Tus-Version", protocol.TUS_VERSION)
    request.add_response_header("Tus-Extension", ",".join(protocol.TUS_EXTENSIONS))
    request.add_response_header(
        "Tus-Checksum-Algorithm", ",".join(protocol.TUS_CHECKSUM_ALGORITHMS)
    )
    service = provider.ctx.uploads
    if service is not None and service.limits.max_upload_bytes is not None:
        request.add_response_header("Tus-Max-Size", str(service.limits.max_upload_bytes))


def _in_uploads(environ: Environ) -> bool:
    path = environ.get("PATH_INFO") or "/"
    return path.strip("/").split("/", 1)[0] == "uploads"


# --------------------------------------------------------------------------- plumbing


def _respond(
    start_response: StartResponse,
    status: int,
    headers: list[tuple[str, str]],
    message: str = "",
    *,
    head: bool = False,
) -> list[bytes]:
    """Send a tus answer; the message becomes a text body (never for HEAD)."""
    reason = _REASONS.get(status) or HTTPStatus(status).phrase
    body = (message + "\n").encode("utf-8") if message and not head else b""
    out = [("Tus-Resumable", protocol.TUS_VERSION), *headers]
    if body:
        out.append(("Content-Type", "text/plain; charset=utf-8"))
    out.append(("Content-Length", str(len(body))))
    start_response(f"{status} {reason}", out)
    return [body]


def _guarded(handler: Callable[..., list[bytes]]) -> Handler:
    """Run ``handler`` and turn every upload, provider or DAV error into a tus answer."""

    def run(
        environ: Environ, start_response: StartResponse, provider: DavsyncDAVProvider
    ) -> list[bytes]:
        service = provider.ctx.uploads
        head = environ["REQUEST_METHOD"].upper() == "HEAD"
        try:
            if service is None:
                raise _TusResponseError(501, "resumable uploads are not enabled", [])
            return handler(environ, start_response, provider, service)
        except _TusResponseError as exc:
            return _respond(start_response, exc.status, exc.headers, str(exc), head=head)
        except (UploadError, ProviderError, DAVError) as exc:
            headers: list[tuple[str, str]] = []
            if isinstance(exc, TusVersionError):
                headers.append(("Tus-Version", protocol.TUS_VERSION))
            if isinstance(exc, OffsetMismatchError):
                headers.append(("Upload-Offset", str(exc.expected)))
            message = exc.get_user_info() if isinstance(exc, DAVError) else str(exc)
            return _respond(start_response, error_status(exc), headers, message, head=head)

    return run


def _location(environ: Environ, provider: DavsyncDAVProvider) -> Location:
    try:
        return resolve_in_share(provider.share_path, environ.get("PATH_INFO") or "/")
    except ProviderError as exc:
        raise _TusResponseError(400, str(exc), []) from exc


def _upload_name(environ: Environ, provider: DavsyncDAVProvider) -> str:
    """The tus upload id addressed by the request path (``/uploads/<user>/<id>``)."""
    loc = _location(environ, provider)
    parts = loc.storage_path.split("/") if loc.kind == "home" else []
    if loc.area != "uploads" or len(parts) != 2:
        raise _TusResponseError(404, "not a tus upload URL", [])
    if parts[0] != DavRequest(environ).user:
        raise _TusResponseError(403, "uploads belong to the user who created them", [])
    return parts[1]


def _state_headers(state: TusState) -> list[tuple[str, str]]:
    headers = [("Upload-Offset", str(state.offset))]
    if state.expires_at is not None:
        headers.append(("Upload-Expires", protocol.http_date(state.expires_at)))
    return headers


class _Body:
    """The request body as a ``BodyReader``; a failing socket reads as the end."""

    def __init__(self, environ: Environ, length: int | None) -> None:
        self._environ = environ
        self._stream = environ["wsgi.input"]
        self._length = length
        self._received = 0
        self.ended = False

    def __call__(self, n: int) -> bytes:
        if self.ended:
            return b""
        self._environ["wsgidav.some_input_read"] = 1
        try:
            data = bytes(self._stream.read(n))
        except (OSError, ValueError):
            data = b""
        self._received += len(data)
        if not data or (self._length is not None and self._received >= self._length):
            self.ended = not data
            self._environ["wsgidav.all_input_read"] = 1
        return data


def _expect_version(environ: Environ) -> None:
    protocol.check_tus_resumable(DavRequest(environ).header("Tus-Resumable"))


def _parse_checksum(environ: Environ) -> tuple[str, str] | None:
    raw = DavRequest(environ).header("Upload-Checksum")
    return None if raw is None else protocol.parse_upload_checksum(raw)


def _body_length(environ: Environ) -> int | None:
    try:
        return DavRequest(environ).declared_length
    except DAVError as exc:
        raise _TusResponseError(400, exc.get_user_info(), []) from exc


# --------------------------------------------------------------------------- handlers


def _create_impl(
    environ: Environ,
    start_response: StartResponse,
    provider: DavsyncDAVProvider,
    service: UploadService,
) -> list[bytes]:
    _expect_version(environ)
    loc = _location(environ, provider)
    if loc.kind != "home" or loc.area != "files":
        raise _TusResponseError(
            405, "create tus uploads with POST to a collection of your files", []
        )
    if DavRequest(environ).header("Upload-Defer-Length") is not None:
        raise ProtocolError("Upload-Defer-Length is not supported; send Upload-Length")
    if DavRequest(environ).header("Upload-Concat") is not None:
        raise ProtocolError("the concatenation extension is not supported")
    raw_length = DavRequest(environ).header("Upload-Length")
    if raw_length is None:
        raise ProtocolError("Upload-Length is required")
    length = protocol.parse_count(raw_length, "Upload-Length")
    raw_metadata = DavRequest(environ).header("Upload-Metadata")
    metadata = protocol.parse_upload_metadata(raw_metadata or "")
    filename = protocol.metadata_text(metadata, "filename")
    if not filename:
        raise ProtocolError("Upload-Metadata must name the file (key 'filename')")
    mtime_ns = _mtime_ns(environ, metadata)
    state = service.create_tus(
        DavRequest(environ).user,
        loc.storage_path,
        filename,
        length,
        upload_metadata=raw_metadata,
        mtime_ns=mtime_ns,
    )
    content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    body_length = _body_length(environ)
    if content_type == protocol.TUS_CONTENT_TYPE and body_length != 0 and not state.complete:
        state = service.tus_append(
            DavRequest(environ).user,
            state.name,
            0,
            _Body(environ, body_length),
            length=body_length,
            checksum=_parse_checksum(environ),
        )
    url = _upload_url(environ, state.name)
    return _respond(start_response, 201, [("Location", url), *_state_headers(state)])


def _mtime_ns(environ: Environ, metadata: dict[str, bytes]) -> int | None:
    """The ``mtime`` metadata (the file's time), else ``X-OC-Mtime``, else None (now)."""
    text = protocol.metadata_text(metadata, "mtime")
    if text:
        return protocol.parse_mtime_ns(text, "Upload-Metadata mtime")
    header = DavRequest(environ).header("X-OC-Mtime")
    return None if header is None else protocol.parse_mtime_ns(header, "X-OC-Mtime")


def _upload_url(environ: Environ, name: str) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    share = environ.get("SCRIPT_NAME", "")
    user = quote(DavRequest(environ).user, safe="")
    return f"{scheme}://{host}{quote(share)}/uploads/{user}/{quote(name, safe='')}"


def _patch_impl(
    environ: Environ,
    start_response: StartResponse,
    provider: DavsyncDAVProvider,
    service: UploadService,
) -> list[bytes]:
    _expect_version(environ)
    content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    if content_type != protocol.TUS_CONTENT_TYPE:
        raise _TusResponseError(415, f"PATCH needs Content-Type: {protocol.TUS_CONTENT_TYPE}", [])
    name = _upload_name(environ, provider)
    raw_offset = DavRequest(environ).header("Upload-Offset")
    if raw_offset is None:
        raise ProtocolError("Upload-Offset is required")
    offset = protocol.parse_count(raw_offset, "Upload-Offset")
    checksum = _parse_checksum(environ)
    length = _body_length(environ)
    state = service.tus_append(
        DavRequest(environ).user,
        name,
        offset,
        _Body(environ, length),
        length=length,
        checksum=checksum,
    )
    return _respond(start_response, 204, _state_headers(state))


def _head_impl(
    environ: Environ,
    start_response: StartResponse,
    provider: DavsyncDAVProvider,
    service: UploadService,
) -> list[bytes]:
    _expect_version(environ)
    name = _upload_name(environ, provider)
    state = service.tus_state(DavRequest(environ).user, name)
    headers = [
        *_state_headers(state),
        ("Upload-Length", str(state.length)),
        ("Cache-Control", "no-store"),
    ]
    if state.upload_metadata:
        headers.append(("Upload-Metadata", state.upload_metadata))
    reason = HTTPStatus(200).phrase
    headers.append(("Content-Length", "0"))
    start_response(f"200 {reason}", [("Tus-Resumable", protocol.TUS_VERSION), *headers])
    return [b""]


def _delete_impl(
    environ: Environ,
    start_response: StartResponse,
    provider: DavsyncDAVProvider,
    service: UploadService,
) -> list[bytes]:
    _expect_version(environ)
    name = _upload_name(environ, provider)
    state = service.tus_state(DavRequest(environ).user, name)
    if state.complete:
        raise SessionNotFoundError(f"upload {name!r} is complete; nothing to terminate")
    service.abort(DavRequest(environ).user, name)
    return _respond(start_response, 204, [])


_create = _guarded(_create_impl)
_patch = _guarded(_patch_impl)
_head = _guarded(_head_impl)
_delete = _guarded(_delete_impl)
