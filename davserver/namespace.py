"""The server's URL space, in one place.

Users' files live at ``/remote.php/dav/files/<user>/...`` (the shape rclone's nextcloud vendor
requires) and, equivalently, at ``/dav/files/<user>/...``. Resumable upload sessions live at
``.../uploads/<user>/<session>/...``. ``/`` and the intermediate segments are virtual
collections so that clients that walk the path (Windows Explorer) find every segment.

``resolve`` maps a decoded request path to a ``Location``: which share, which area, which home
and which storage path. It is pure and does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from providers import paths

SHARES = ("/remote.php/dav", "/dav")
AREAS = ("files", "uploads")
WEBDAV_ALIAS = "/remote.php/webdav"
"""Older clients' URL of the logged-in user's home: ``/remote.php/webdav/x`` names
``/remote.php/dav/files/<user>/x`` (see ``davserver.nextcloud.webdav_alias``)."""

Kind = Literal["outside", "share-root", "area-index", "home"]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a request path points.

    ``kind``: ``outside`` (not below a share: ``/``, ``/remote.php``), ``share-root``
    (``/dav``), ``area-index`` (``/dav/files``), ``home`` (``/dav/files/<user>`` and below).
    ``storage_path`` is the provider path ``<user>/rest`` for ``home``, else ``""``.
    """

    kind: Kind
    share: str = ""
    area: str = ""
    home: str = ""
    storage_path: str = ""


def split_share(path: str) -> tuple[str, str] | None:
    """Return (share prefix, path inside the share starting with ``/``), or None if outside."""
    lowered = path.lower()
    for share in SHARES:
        if lowered == share or lowered.startswith(share + "/"):
            rest = path[len(share) :] or "/"
            return share, rest
    return None


def resolve_in_share(share: str, share_path: str) -> Location:
    """Resolve a path inside a share (``/files/alice/x``). InvalidPathError for bad segments."""
    norm = paths.normalize(share_path)
    if norm == "":
        return Location("share-root", share=share)
    area, _, rest = norm.partition("/")
    if area not in AREAS:
        return Location("share-root", share=share, area=area)  # unknown area: caller 404s
    if rest == "":
        return Location("area-index", share=share, area=area)
    home = rest.split("/", 1)[0]
    return Location("home", share=share, area=area, home=home, storage_path=rest)


def resolve(path: str) -> Location:
    """Resolve a full decoded request path. InvalidPathError for bad segments."""
    split = split_share(path)
    if split is None:
        return Location("outside")
    return resolve_in_share(*split)


def storage_to_share_path(area: str, storage_path: str) -> str:
    """The path inside a share for a storage path of ``area`` (``/files/alice/x``)."""
    return f"/{area}/{storage_path}" if storage_path else f"/{area}"
