"""``/remote.php/webdav/``: the logged-in user's home under the URL older clients use.

A middleware placed right after authentication turns a request below the alias into the
same request on ``/remote.php/dav/files/<user>/`` (provider, ``SCRIPT_NAME``, ``PATH_INFO``
and a ``Destination`` below the alias), so access control, limits, locks and properties see
one canonical URL space. Resources then write their hrefs back under the alias (see
``StorageResource.get_href``), so a client only ever sees the URLs it asked for.
Unauthenticated requests pass unchanged (and get 401 or 404 from the stack).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from davserver.dav.host import DavHost
from davserver.http.environ import StartResponse, WSGIApp, authenticated_user
from davserver.namespace import SHARES, WEBDAV_ALIAS

ALIAS_ENV_KEY = "davsync.webdav_alias"
"""environ key: (alias prefix, canonical prefix) when the request came in through the alias."""


def _below_alias(path: str) -> str | None:
    """The part of ``path`` after the alias (``""`` or ``/...``), or None if not below it."""
    if path.lower() == WEBDAV_ALIAS or path.lower().startswith(WEBDAV_ALIAS + "/"):
        return path[len(WEBDAV_ALIAS) :]
    return None


class WebdavAlias:
    """See the module docstring; ``provider`` serves the files share (``SHARES[0]``)."""

    def __init__(self, next_app: WSGIApp, *, provider: DavHost) -> None:
        self.next_app = next_app
        self.provider = provider
        self.share = SHARES[0]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        user = authenticated_user(environ)
        rest = _below_alias(str(environ.get("SCRIPT_NAME", "")) + str(environ["PATH_INFO"]))
        if rest is not None and user and "/" not in user:
            canonical = f"{self.share}/files/{user}"
            environ["SCRIPT_NAME"] = self.share
            environ["PATH_INFO"] = f"/files/{user}{rest or '/'}"
            environ["wsgidav.provider"] = self.provider
            environ[ALIAS_ENV_KEY] = (WEBDAV_ALIAS, canonical)
            destination = environ.get("HTTP_DESTINATION")
            if destination:
                environ["HTTP_DESTINATION"] = _canonical_destination(str(destination), canonical)
        return self.next_app(environ, start_response)


def _canonical_destination(destination: str, canonical: str) -> str:
    parts = urlsplit(destination)
    rest = _below_alias(parts.path)
    if rest is None:
        return destination
    return urlunsplit(parts._replace(path=quote(canonical) + rest))


def href_for(environ: dict[str, Any], href: str) -> str:
    """``href`` (quoted, canonical) as the client should see it: under the alias if the
    request came in through it."""
    alias = environ.get(ALIAS_ENV_KEY)
    if alias is None:
        return href
    alias_prefix, canonical = alias
    quoted = quote(canonical)
    if href == quoted or href.startswith(quoted + "/"):
        return f"{alias_prefix}{href[len(quoted) :]}"
    return href
