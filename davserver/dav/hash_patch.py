"""``PATCH`` with ``X-Recalculate-Hash`` (Nextcloud's checksum update; rclone's nextcloud
vendor sends it after every mod-time change): answers ``204`` with ``OC-Checksum`` of the
requested algorithm. WsgiDAV answers 405 to PATCH before any provider hook, so the
extensions middleware routes it here."""

from __future__ import annotations

from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_METHOD_NOT_ALLOWED, HTTP_NOT_FOUND, DAVError

from davserver.dav.errors import translated
from davserver.dav.provider import DavsyncDAVProvider
from davserver.dav.request import DavRequest
from davserver.dav.resources import FileResource
from davserver.http.environ import StartResponse
from providers.hashing import normalize_algorithm

_LABELS = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256"}


def answer_hash_patch(
    request: DavRequest, start_response: StartResponse, provider: DavsyncDAVProvider
) -> list[bytes]:
    """Answer a PATCH that is not a tus request.

    Raises DAVError 405 without ``X-Recalculate-Hash`` or for a collection, 404 for nothing
    there, 400 for an unknown algorithm.
    """
    algorithm = request.header("X-Recalculate-Hash")
    if algorithm is None:
        raise DAVError(
            HTTP_METHOD_NOT_ALLOWED,
            context_info="PATCH is supported with X-Recalculate-Hash, or for tus uploads",
        )
    name = normalize_algorithm(algorithm)
    res = provider.get_resource_inst(request.environ["PATH_INFO"], request.environ)
    if not isinstance(res, FileResource):
        raise DAVError(HTTP_NOT_FOUND if res is None else HTTP_METHOD_NOT_ALLOWED)
    with translated():
        digests = provider.ctx.storage.digests(res.storage_path)
    try:
        value = digests.get(name)
    except KeyError as exc:
        raise DAVError(
            HTTP_BAD_REQUEST, context_info=f"unsupported hash algorithm {algorithm!r}"
        ) from exc
    start_response(
        "204 No Content",
        [("OC-Checksum", f"{_LABELS[name]}:{value}"), ("Content-Length", "0")],
    )
    return [b""]
