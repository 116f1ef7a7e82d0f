"""``DavHost``: what a resource needs of the WsgiDAV provider that made it, as a type.

Resources and upload resources are typed against this protocol instead of the provider
class, so ``resources`` and ``upload_resources`` do not import ``provider`` (which imports
them): the server context, the dead-property store WsgiDAV attached, and resolving another
path of the same share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from davserver.http.environ import Environ

if TYPE_CHECKING:
    from davserver.context import ServerContext


class DavHost(Protocol):
    """The provider of a share as its resources see it (``DavsyncDAVProvider``)."""

    ctx: ServerContext
    prop_manager: Any  # WsgiDAV's property manager, or None (WsgiDAV is untyped)
    share_path: str

    def get_resource_inst(self, path: str, environ: Environ) -> Any:
        """The resource at share path ``path`` (a WsgiDAV resource), or None."""
