"""Live properties davsync adds to WsgiDAV's, as small registered parts.

Each ``LiveProperty`` says which resources it applies to, whether it appears in ``allprop``,
how to read it and (optionally) how to set it. Resources consult ``REGISTRY`` before falling
back to WsgiDAV's defaults, so adding a property is one entry here.

Namespaces: ownCloud ``http://owncloud.org/ns`` (oc:checksums, oc:fileid, oc:id,
oc:permissions, oc:size — the recursive size for a collection —, oc:data-fingerprint on a
user's root) as rclone and the Nextcloud/ownCloud clients read them, and
Microsoft ``urn:schemas-microsoft-com:`` (Win32* times and attributes Explorer sets).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree
from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_FORBIDDEN, DAVError
from wsgidav.util import parse_time_string

if TYPE_CHECKING:
    from wsgidav._types import PropertyValue

    from davserver.dav.resources import StorageResource

OC_NS = "http://owncloud.org/ns"
NC_NS = "http://nextcloud.org/ns"
MS_NS = "urn:schemas-microsoft-com:"

_log = logging.getLogger(__name__)

Getter = Callable[["StorageResource"], "PropertyValue"]
Setter = Callable[["StorageResource", "etree._Element | None", bool], None]
"""Sets a property from its PROPPATCH element (None: the property is removed)."""


@dataclass(frozen=True)
class LiveProperty:
    """One live property: name in Clark notation, where it applies, how to get/set it."""

    name: str
    getter: Getter | None
    setter: Setter | None = None
    files: bool = True
    collections: bool = True
    in_allprop: bool = True
    store_as_dead: bool = False
    only: Callable[[StorageResource], bool] | None = None

    def applies_to(self, res: StorageResource) -> bool:
        """True if this property exists on ``res``."""
        if self.only is not None and not self.only(res):
            return False
        return self.collections if res.is_collection else self.files


def _oc(name: str) -> str:
    return f"{{{OC_NS}}}{name}"


def _checksums(res: StorageResource) -> etree._Element:
    digests = res.get_digests()
    outer = etree.Element(_oc("checksums"), nsmap={"oc": OC_NS})
    inner = etree.SubElement(outer, _oc("checksum"))
    inner.text = digests.as_oc_checksums()
    return outer


def _size(res: StorageResource) -> str:
    """Bytes of a file, or of every file below a collection."""
    return str(res.size)


def _is_home(res: StorageResource) -> bool:
    return res.storage_path == res.home


def _data_fingerprint(res: StorageResource) -> str:
    """Changes only if the server's state was lost (then every file id changed too), which
    makes the desktop clients keep local files instead of trusting the server's listing."""
    return str(res.ctx.instance_id)


def _permissions(res: StorageResource) -> str:
    if not res.writable:
        return "G"
    return "RGDNVCK" if res.is_collection else "RGDNVW"


def _unix_seconds(value: etree._Element | None) -> int:
    text = (value.text or "").strip() if value is not None else ""
    try:
        return int(float(text))
    except ValueError as exc:
        raise DAVError(HTTP_BAD_REQUEST, context_info=f"not unix seconds: {text!r}") from exc


def _set_unix_mtime(res: StorageResource, value: etree._Element | None, dry_run: bool) -> None:
    if value is None:
        raise DAVError(HTTP_FORBIDDEN, context_info="lastmodified cannot be removed")
    seconds = _unix_seconds(value)
    if not dry_run:
        res.apply_mtime(seconds * 1_000_000_000)


def _set_win32_mtime(res: StorageResource, value: etree._Element | None, dry_run: bool) -> None:
    if value is None:
        return
    seconds = parse_time_string((value.text or "").strip())
    if seconds is None:
        raise DAVError(HTTP_BAD_REQUEST, context_info="Win32LastModifiedTime is not RFC 1123")
    if not dry_run:
        res.apply_mtime(int(seconds) * 1_000_000_000)


def _accept(res: StorageResource, value: etree._Element | None, dry_run: bool) -> None:
    """Accept the value without changing live state (kept as a dead property if possible)."""


def _accept_checksums(res: StorageResource, value: etree._Element | None, dry_run: bool) -> None:
    """rclone (owncloud vendor) re-sends its own checksum with every mod-time update.

    Checksums here are always computed from the stored bytes, so a client-declared value is
    never stored; a value that disagrees is logged, and the PROPPATCH still succeeds so that
    the mod-time update in the same request is not failed with 424.
    """
    if value is None or dry_run or res.is_collection:
        return
    declared = " ".join(value.itertext()).strip().lower()
    if declared and res.get_digests().sha1 not in declared and "sha1:" in declared:
        _log.warning("client-declared checksum for %s differs from stored bytes", res.path)


REGISTRY: dict[str, LiveProperty] = {
    p.name: p
    for p in (
        LiveProperty(_oc("checksums"), _checksums, _accept_checksums, collections=False),
        LiveProperty(_oc("fileid"), lambda r: r.file_id),
        LiveProperty(_oc("id"), lambda r: r.oc_id),
        LiveProperty(_oc("permissions"), _permissions),
        LiveProperty(_oc("size"), _size),
        LiveProperty(_oc("data-fingerprint"), _data_fingerprint, only=_is_home, files=False),
        LiveProperty("{DAV:}lastmodified", None, _set_unix_mtime, in_allprop=False),
        LiveProperty(f"{{{MS_NS}}}Win32LastModifiedTime", None, _set_win32_mtime, in_allprop=False),
        LiveProperty(
            f"{{{MS_NS}}}Win32CreationTime", None, _accept, in_allprop=False, store_as_dead=True
        ),
        LiveProperty(
            f"{{{MS_NS}}}Win32LastAccessTime", None, _accept, in_allprop=False, store_as_dead=True
        ),
        LiveProperty(
            f"{{{MS_NS}}}Win32FileAttributes", None, _accept, in_allprop=False, store_as_dead=True
        ),
    )
}


def names_for(res: StorageResource, *, is_allprop: bool) -> list[str]:
    """Readable live property names of ``res`` (those in allprop only, if ``is_allprop``)."""
    return [
        p.name
        for p in REGISTRY.values()
        if p.getter is not None and p.applies_to(res) and (p.in_allprop or not is_allprop)
    ]
