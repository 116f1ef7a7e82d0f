"""``DavHost``: the WsgiDAV provider that made a resource, as a type.

Resources and upload resources are typed against this name instead of importing the
provider class, so ``resources`` and ``upload_resources`` do not import ``provider`` (which
imports them) at run time: the name is resolved only by the type checker. A resource reads
the server context, the dead-property store WsgiDAV attached and the share path from it, and
resolves other paths of the same share through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from davserver.dav.provider import DavsyncDAVProvider

DavHost: TypeAlias = "DavsyncDAVProvider"
"""The provider of a share as its resources see it (``DavsyncDAVProvider``)."""
