"""The data davsync reports to Nextcloud/ownCloud clients, in one place.

Everything declared here is something davsync really does: chunked uploads under
``/remote.php/dav/uploads/<user>/`` ("chunking 1.0"), ``OC-Checksum`` verified with MD5, SHA-1
or SHA-256; no bulk upload, no sharing, no trash bin, no versions.
"""

from __future__ import annotations

from typing import Any

from davserver.context import ServerContext

COMPAT_VERSION = (27, 1, 0, 0)
"""The Nextcloud server version davsync answers to (the desktop clients refuse servers they
consider too old; 27.1 is the oldest they accept without a warning and behaves as described)."""
PRODUCT_NAME = "davsync"
CHECKSUM_TYPES = ("SHA1", "MD5", "SHA256")
"""Checksum names as the clients spell them in ``OC-Checksum`` (all verified on upload)."""
PREFERRED_CHECKSUM = "SHA1"


def _version_text() -> str:
    return ".".join(str(part) for part in COMPAT_VERSION)


def status() -> dict[str, Any]:
    """The body of ``GET /status.php``."""
    major, minor, micro, _ = COMPAT_VERSION
    return {
        "installed": True,
        "maintenance": False,
        "needsDbUpgrade": False,
        "version": _version_text(),
        "versionstring": f"{major}.{minor}.{micro}",
        "edition": "",
        "productname": PRODUCT_NAME,
        "extendedSupport": False,
    }


def capabilities() -> dict[str, Any]:
    """The ``data`` of ``GET /ocs/v{1,2}.php/cloud/capabilities``."""
    major, minor, micro, _ = COMPAT_VERSION
    return {
        "version": {
            "major": major,
            "minor": minor,
            "micro": micro,
            "string": f"{major}.{minor}.{micro}",
            "edition": "",
            "extendedSupport": False,
        },
        "capabilities": {
            "core": {"pollinterval": 60, "webdav-root": "remote.php/webdav"},
            "dav": {"chunking": "1.0"},
            "checksums": {
                "supportedTypes": list(CHECKSUM_TYPES),
                "preferredUploadType": PREFERRED_CHECKSUM,
            },
            "files": {"bigfilechunking": True, "undelete": False, "versioning": False},
        },
    }


def user(ctx: ServerContext, name: str) -> dict[str, Any]:
    """The ``data`` of ``GET /ocs/v{1,2}.php/cloud/user`` for ``name``: quota from the free
    space of the storage and the recursive size of the user's home."""
    ctx.ensure_home(name)
    used = ctx.storage.stat(name).size
    free = ctx.storage.free_space()
    quota: dict[str, Any] = {"used": used, "quota": -3}  # -3: no quota set ("unlimited")
    if free is not None:
        total = used + free
        quota.update(
            free=free, total=total, relative=round(100.0 * used / total, 2) if total else 0.0
        )
    return {
        "id": name,
        "display-name": name,
        "displayname": name,
        "email": None,
        "enabled": True,
        "quota": quota,
    }
