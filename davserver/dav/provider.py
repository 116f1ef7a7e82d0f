"""WsgiDAV providers: the files share (mounted at each of ``namespace.SHARES``) and the
read-only virtual root that answers ``/`` and ``/remote.php`` for clients that probe them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from wsgidav.dav_error import HTTP_FORBIDDEN, DAVError
from wsgidav.dav_provider import DAVProvider

from davserver.context import ServerContext
from davserver.dav import lock_null
from davserver.dav.errors import stat_or_none, translated
from davserver.dav.propfind import stream_propfind
from davserver.dav.request import DavRequest
from davserver.dav.resources import FileResource, FolderResource, VirtualFolder
from davserver.dav.upload_resources import upload_resource
from davserver.http.environ import Environ, StartResponse
from davserver.namespace import SHARES, resolve_in_share

if TYPE_CHECKING:
    from wsgidav._types import MethodHandler
    from wsgidav.dav_provider import _DAVResource


class DavsyncDAVProvider(DAVProvider):
    """Serves ``/files/<user>/...`` over ``ctx.storage`` and ``/uploads/<user>/...`` over
    ``ctx.uploads`` inside one share (one provider, so MOVE of ``.file`` stays inside it)."""

    def __init__(self, ctx: ServerContext) -> None:
        super().__init__()
        self.ctx = ctx

    def is_readonly(self) -> bool:
        return False

    def ref_url_to_path(self, ref_url: str) -> str:
        """The share path of a lock or property key (the inverse of the resources'
        ``get_ref_url``, which uses the first share whichever share a request came through)."""
        for share in SHARES:
            prefix = quote(share)
            if ref_url == prefix or ref_url.startswith(prefix + "/"):
                return "/" + unquote(ref_url[len(prefix) :]).lstrip("/")
        return str(super().ref_url_to_path(ref_url))

    def custom_request_handler(
        self, environ: Environ, start_response: StartResponse, default_handler: MethodHandler
    ) -> Iterable[bytes]:
        """WsgiDAV's per-method hook: PROPFIND is answered streamed (``dav.propfind``);
        COPY/MOVE onto a folder containing the source are refused (``_refuse_onto_ancestor``)."""
        if environ["REQUEST_METHOD"] in ("COPY", "MOVE"):
            self._refuse_onto_ancestor(environ)
        if environ["REQUEST_METHOD"] == "PROPFIND":
            server = default_handler.__self__  # the RequestServer of this request
            return stream_propfind(server, self, environ, start_response)
        return super().custom_request_handler(environ, start_response, default_handler)

    def _refuse_onto_ancestor(self, environ: Environ) -> None:
        """403 for a COPY/MOVE whose Destination is a folder above the source (its parent,
        the home): WsgiDAV checks only "onto itself" and "below itself", then deletes an
        existing destination first, which would delete the source and everything beside it.
        A Destination outside this share is left to WsgiDAV (502)."""
        raw = unquote(urlsplit(str(environ.get("HTTP_DESTINATION") or "")).path)
        prefix = (self.mount_path or "") + self.share_path
        if raw.rstrip("/") != prefix and not raw.startswith(prefix + "/"):
            return
        dest = _segments(raw[len(prefix) :])
        src = _segments(str(environ.get("PATH_INFO") or ""))
        if len(dest) < len(src) and src[: len(dest)] == dest:
            raise DAVError(
                HTTP_FORBIDDEN,
                context_info="Cannot copy or move a resource onto a folder that contains it",
            )

    def get_resource_inst(self, path: str, environ: Environ) -> _DAVResource | None:
        """The resource at share path ``path``, or None if there is none.

        Raises DAVError 400 for a path the path policy rejects, 403 for a home the user may
        not read.
        """
        with translated():
            loc = resolve_in_share(self.share_path, path)
        user = DavRequest(environ).user
        if loc.kind == "share-root":
            if loc.area:
                return None
            return VirtualFolder(self, "/", environ, ["files"], self.get_resource_inst)
        if loc.area == "uploads":
            return upload_resource(self, loc, environ)
        if loc.area != "files":
            return None
        if loc.kind == "area-index":
            if user:
                self.ctx.ensure_home(user)
            homes = self.ctx.policy.visible_homes(user, self.ctx.homes())
            return VirtualFolder(self, "/files", environ, homes, self.get_resource_inst)
        if not self.ctx.policy.can_read(user, loc.home):
            raise DAVError(HTTP_FORBIDDEN, context_info=f"no access to home {loc.home!r}")
        if loc.storage_path == user:
            self.ctx.ensure_home(user)
        entry = stat_or_none(self.ctx.storage, loc.storage_path)
        if entry is None:
            return lock_null.pending(environ, loc.storage_path)
        cls = FolderResource if entry.is_dir else FileResource
        return cls(self, "/files/" + loc.storage_path, environ, "files", loc.storage_path, entry)


def _segments(path: str) -> list[str]:
    """The segments of a URL path with ``.`` and ``..`` resolved (never above the root)."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            out = out[:-1]
        elif segment not in ("", "."):
            out.append(segment)
    return out


class VirtualRootProvider(DAVProvider):
    """Read-only ``/`` and ``/remote.php`` collections pointing at the shares."""

    _TREE: dict[str, list[str]] = {"/": ["dav", "remote.php"], "/remote.php": ["dav"]}

    def is_readonly(self) -> bool:
        return True

    def get_resource_inst(self, path: str, environ: Environ) -> VirtualFolder | None:
        """A virtual folder for ``/`` and ``/remote.php`` (and placeholders below), else None."""
        key = "/" + path.strip("/")
        if key in self._TREE:
            return VirtualFolder(self, key, environ, self._TREE[key], self.get_resource_inst)
        if key in ("/dav", "/remote.php/dav"):
            return VirtualFolder(self, key, environ, [], self.get_resource_inst)
        return None
