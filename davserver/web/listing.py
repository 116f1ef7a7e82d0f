"""The HTML listing of a collection (``GET`` of a folder URL in a browser), and ``GET /``.

``Listing`` replaces WsgiDAV's directory browser in the middleware stack (after
authentication and access control, before ``RequestResolver``). A ``GET`` or ``HEAD`` of a
collection answers a davsync page: breadcrumbs, folders first, then files with a
human-readable size (exact bytes on hover), the modification time with the server's UTC
offset and the SHA-256 (shortened, the full value on hover and in ``data-sha256``). Digests
come from the provider, which keeps them with each file, so a listing does not re-read file
contents (only a file changed behind the server's back is hashed again, once).

``GET /`` from a browser (``Accept`` names ``text/html``) of a logged-in user is redirected to
the user's home (``/dav/files/<user>/``): the URL the server prints at start leads somewhere
useful. WebDAV clients' ``OPTIONS``/``PROPFIND`` of ``/`` are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from davserver.dav.resources import FolderResource
from davserver.gateways.form_pages import upload_form_html
from davserver.web.templates import render
from davserver.web.wsgi import HTML, StartResponse, WSGIApp, auth_user, request_path, respond
from providers.base import Provider
from providers.errors import NotFoundError, ProviderError

HOME_SHARE = "/dav"


@dataclass(frozen=True)
class Row:
    """One member of the listed collection."""

    name: str
    href: str
    is_dir: bool
    size: int | None = None
    mtime: float | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Crumb:
    """One link of the breadcrumb trail."""

    name: str
    href: str


def url_of(path: str) -> str:
    """The percent-encoded URL path of a decoded path."""
    return quote(path, safe="/")


def crumbs(path: str) -> list[Crumb]:
    """Links to ``/`` and to every ancestor of ``path`` (and ``path`` itself)."""
    out = [Crumb("/", "/")]
    acc = ""
    for part in [p for p in path.split("/") if p]:
        acc += "/" + part
        out.append(Crumb(part, url_of(acc + "/")))
    return out


def storage_rows(storage: Provider, storage_path: str, base: str) -> list[Row]:
    """Rows for the members of ``storage_path`` (URLs below ``base``), folders first."""
    rows = []
    for entry in storage.listdir(storage_path):
        href = url_of(base + entry.name) + ("/" if entry.is_dir else "")
        mtime = entry.mtime_ns / 1e9
        if entry.is_dir:
            rows.append(Row(entry.name, href, True, mtime=mtime))
            continue
        try:
            sha256: str | None = storage.digests(entry.path).sha256
        except ProviderError:
            sha256 = None  # removed or unreadable since listdir: still listed, without hash
        rows.append(Row(entry.name, href, False, entry.size, mtime, sha256))
    rows.sort(key=lambda r: (not r.is_dir, r.name))
    return rows


def member_rows(res: Any, base: str) -> list[Row]:
    """Rows for the members of a WsgiDAV collection that is not storage (the virtual root,
    upload sessions and their chunks), folders first."""
    rows = []
    for member in res.get_member_list():
        name = member.get_display_name()
        if member.is_collection:
            rows.append(Row(name, url_of(base + name) + "/", True))
        else:
            size = member.get_content_length()
            mtime = member.get_last_modified()
            rows.append(Row(name, url_of(base + name), False, size, mtime))
    rows.sort(key=lambda r: (not r.is_dir, r.name))
    return rows


def _upload_form(res: FolderResource, base: str) -> str:
    """The HTML upload form for a folder the user may write to (form upload enabled), or
    ``""``. Already escaped (``form_pages.upload_form_html``)."""
    if res.area != "files" or not res.writable or not res.ctx.settings.gateways.form.enabled:
        return ""
    return upload_form_html(url_of(base))


def _wants_html(environ: dict[str, Any]) -> bool:
    return "text/html" in str(environ.get("HTTP_ACCEPT", ""))


class Listing:
    """See the module docstring. ``app`` is the rest of the WsgiDAV stack."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        method = environ.get("REQUEST_METHOD", "")
        if method not in ("GET", "HEAD"):
            return self.app(environ, start_response)
        path = request_path(environ)
        user = auth_user(environ)
        if path == "/" and user and _wants_html(environ):
            target = f"{HOME_SHARE}/files/{url_of(user)}/"
            return respond(
                environ,
                start_response,
                "302 Found",
                f"Your files: {target}\n".encode(),
                headers=[("Location", target)],
            )
        provider = environ.get("wsgidav.provider")
        res = provider.get_resource_inst(environ["PATH_INFO"], environ) if provider else None
        if res is None or not res.is_collection:
            return self.app(environ, start_response)
        base = path.rstrip("/") + "/"
        upload_form = ""
        if isinstance(res, FolderResource):
            try:
                rows = storage_rows(res.ctx.storage, res.storage_path, base)
            except NotFoundError:
                return self.app(environ, start_response)
            upload_form = _upload_form(res, base)
        else:
            rows = member_rows(res, base)
        page = render(
            "listing.html",
            path=base,
            crumbs=crumbs(base),
            parent=url_of(base.rstrip("/").rsplit("/", 1)[0] + "/") if base != "/" else None,
            rows=rows,
            user=user,
            total=sum(r.size or 0 for r in rows),
            files=sum(1 for r in rows if not r.is_dir),
            folders=sum(1 for r in rows if r.is_dir),
            upload_form=upload_form,
        )
        return respond(environ, start_response, "200 OK", page, HTML)
