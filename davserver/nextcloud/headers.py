"""Response headers the desktop clients need after creating a collection or moving/copying.

A successful MKCOL, COPY or MOVE answers with the ``OC-FileId`` and ``ETag`` (also as
``OC-ETag``) of what now exists at the target, as Nextcloud does; without them the clients
store empty ids for new folders and list every folder again on their next run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from wsgidav.dav_error import DAVError

from davserver.dav.resources import StorageResource

if TYPE_CHECKING:
    from davserver.dav.provider import DavsyncDAVProvider

METHODS = ("MKCOL", "COPY", "MOVE")


def _target_share_path(environ: dict[str, Any], share: str) -> str | None:
    """The path inside ``share`` that the request created (None if outside the share)."""
    if environ["REQUEST_METHOD"].upper() == "MKCOL":
        return str(environ.get("PATH_INFO") or "/")
    destination = environ.get("HTTP_DESTINATION")
    if not destination:
        return None
    path = unquote(urlsplit(str(destination)).path)
    if path.lower() == share.lower():
        return "/"
    if not path.lower().startswith(share.lower() + "/"):
        return None
    return path[len(share) :]


def target_headers(environ: dict[str, Any], provider: DavsyncDAVProvider) -> list[tuple[str, str]]:
    """``OC-FileId``, ``ETag`` and ``OC-ETag`` of the target of a successful MKCOL, COPY or
    MOVE of a stored file or collection; empty for anything else."""
    if environ["REQUEST_METHOD"].upper() not in METHODS:
        return []
    share_path = _target_share_path(environ, provider.share_path)
    if share_path is None:
        return []
    try:
        res = provider.get_resource_inst(share_path, environ)
    except DAVError:
        return []
    if not isinstance(res, StorageResource) or res.entry is None:
        return []
    etag = f'"{res.entry.etag}"'
    return [("OC-FileId", res.oc_id), ("ETag", etag), ("OC-ETag", etag)]
