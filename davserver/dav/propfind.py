"""PROPFIND answered as a stream: one ``<D:response>`` serialised at a time.

WsgiDAV 4.4 builds the whole multistatus tree of a PROPFIND (every member resource and an lxml
element per property) before it sends a byte, then serialises it in one piece: a Depth 1
listing costs about 8 KB per member while it is built, and eight concurrent listings of a
20 000-entry folder took more than a gigabyte. Here the members are visited one after the
other: for each, the properties are read with WsgiDAV's own ``get_properties`` (so allprop,
``prop`` with 404 propstats for unknown names, and ``propname`` answer exactly as before, with
the live properties of ``davserver.dav.properties`` and the dead ones of the property store),
rendered with WsgiDAV's ``add_property_response`` into a throw-away ``<D:multistatus>``,
serialised, and dropped. A listing of more than :data:`BUFFERED_MEMBERS` resources is sent in
blocks of about :data:`BLOCK_BYTES` with chunked transfer coding (no ``Content-Length``, so the
connection is closed after it); memory per request is bounded by the folder listing itself
(the provider's ``Entry`` records, a few hundred bytes per member) plus one block. Smaller
listings are rendered whole and sent with a ``Content-Length``, keeping the connection open.

Everything that can fail for the request as a whole (unknown target, bad Depth, bad body, If
headers, listing the folder) is checked before the ``207`` status line is sent. A failure while
the body streams (a member vanishing does not count: its properties then carry their own error
status) can only cut the response short; it is logged.

``Depth: infinity`` walks the tree depth-first with one folder listing per level on the stack;
it stays refused unless ``limits.propfind_infinity`` (``davserver.dav.limits_mw``), and then
``limits.max_propfind_results`` still bounds the time one request may spend.

The handler is plugged in through ``DAVProvider.custom_request_handler`` (WsgiDAV's hook for
providers that answer a method themselves), so WsgiDAV's request set-up (user name, Depth
normalisation, method check) is unchanged.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Literal, TypeAlias

from lxml import etree
from wsgidav import util
from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_NOT_FOUND, DAVError, as_DAVError

from davserver.dav.dates import http_date
from davserver.dav.properties import OC_NS
from davserver.dav.resources import FileResource, FolderResource, ListedFile, StorageResource
from davserver.dav.response_xml import (
    SAFE_TEXT,
    TextChild,
    Value,
    render_response,
    response_writer,
)
from davserver.http.environ import Environ, StartResponse
from providers.base import digests_many
from providers.errors import ProviderError

if TYPE_CHECKING:
    from wsgidav._types import PropertyValue
    from wsgidav.dav_provider import DAVProvider, _DAVResource
    from wsgidav.request_server import RequestServer

__all__ = ["BLOCK_BYTES", "stream_propfind"]

_Mode: TypeAlias = Literal["allprop", "name", "named"]
"""What a PROPFIND asks for: every property, the names only, or the named properties."""

_Listed: TypeAlias = "_DAVResource | ListedFile"
"""What a PROPFIND walk gives: a resource, or a file of a stored folder met in its listing."""

_log = logging.getLogger(__name__)


BLOCK_BYTES = 64 * 1024
"""Responses are gathered into blocks of about this size before they are handed to the server."""

BUFFERED_MEMBERS = 500
"""A listing of at most this many resources is rendered whole and sent with a Content-Length
(the connection stays open); a longer one is streamed, and the connection closed after it
(WsgiDAV keeps no connection open for a response without Content-Length)."""

_OPEN = b'<D:multistatus xmlns:D="DAV:">'
_HEAD = b"<?xml version='1.0' encoding='UTF-8'?>\n" + _OPEN
_TAIL = b"</D:multistatus>"
_DEPTHS = ("0", "1", "infinity")
_CHECKSUMS = f"{{{OC_NS}}}checksums"

DIGEST_BATCH = 500
"""Members whose digests (for ``oc:checksums``) are fetched from the provider at once."""


def stream_propfind(
    request_server: RequestServer,
    provider: DAVProvider,
    environ: Environ,
    start_response: StartResponse,
) -> Iterable[bytes]:
    """Answer the PROPFIND in ``environ`` (see the module docstring).

    ``request_server`` is WsgiDAV's ``RequestServer`` of this request (its If-header
    evaluation is reused). Raises DAVError (400, 404, 412, ...) before anything is sent.
    """
    path = environ["PATH_INFO"]
    depth = environ.setdefault("HTTP_DEPTH", "infinity")
    if depth not in _DEPTHS:
        raise DAVError(HTTP_BAD_REQUEST, context_info=f"Invalid Depth header: {depth!r}.")
    res = provider.get_resource_inst(path, environ)
    if res is None:
        raise DAVError(HTTP_NOT_FOUND, context_info=path)
    request_server._evaluate_if_headers(res, environ)
    mode, names = _requested(util.parse_xml_body(environ, allow_empty=True))
    # lists the target folder: its errors still become a status
    with_digests = mode == "allprop" or (mode == "named" and _CHECKSUMS in names)
    render = _Responses(mode, names)
    resources = _walk(res, depth, with_digests=with_digests, listed=render.listed)
    if with_digests:
        resources = _digests_fetched(resources)
    first = list(itertools.islice(resources, BUFFERED_MEMBERS + 1))
    headers = [
        ("Content-Type", "application/xml; charset=utf-8"),
        ("Date", util.get_rfc1123_time()),
    ]
    if len(first) <= BUFFERED_MEMBERS:
        body = b"".join([_HEAD, *(render(r) for r in first), _TAIL])
        start_response("207 Multi-Status", [*headers, ("Content-Length", str(len(body)))])
        return [body]
    # WsgiDAV closes every connection whose response has no Content-Length; say so up front.
    start_response("207 Multi-Status", [*headers, ("Connection", "close")])
    return _body(first, resources, render, path)


def _requested(request: etree._Element | None) -> tuple[_Mode, list[str]]:
    """(mode, property names) of a PROPFIND body: ``allprop``, ``name`` or ``named``."""
    if request is None:  # an empty body asks for all properties (RFC 4918 9.1)
        return "allprop", []
    if request.tag != "{DAV:}propfind":
        raise DAVError(HTTP_BAD_REQUEST, context_info="Expected a DAV:propfind body.")
    mode: _Mode | None = None
    chosen: _Mode
    names: list[str] = []
    for child in request:
        if child.tag == "{DAV:}allprop":
            chosen = "allprop"
        elif child.tag in ("{DAV:}propname", "{DAV:}name"):
            chosen = "name"
        elif child.tag == "{DAV:}prop":
            chosen = "named"
            names.extend(str(p.tag) for p in child if isinstance(p.tag, str))
        else:
            continue  # DAV:include and extensions are ignored, as WsgiDAV does
        if mode is not None and not (mode == chosen == "named"):
            raise DAVError(
                HTTP_BAD_REQUEST, context_info="allprop, propname and prop are exclusive."
            )
        mode = chosen
    return (mode or "allprop"), names


def _walk(res: _DAVResource, depth: str, *, with_digests: bool, listed: bool) -> Iterator[_Listed]:
    """``res``, then (Depth 1) its members or (Depth infinity) everything below, depth-first.

    ``res`` itself is listed by this call (so its errors are raised here); every other folder
    when the walk reaches it. Members are made into resources one at a time; ``with_digests``:
    with the digests the listing already knows (for ``oc:checksums``); ``listed``: files of
    stored folders come as ``ListedFile`` records (every property asked for is in
    :data:`_LISTED`)."""
    if depth == "0" or not res.is_collection:
        return iter((res,))
    members = _members(res, with_digests=with_digests, listed=listed)
    return _walk_from(
        res, members, infinite=depth == "infinity", with_digests=with_digests, listed=listed
    )


def _walk_from(
    res: _DAVResource,
    members: Iterator[_Listed],
    *,
    infinite: bool,
    with_digests: bool,
    listed: bool,
) -> Iterator[_Listed]:
    yield res
    stack: list[Iterator[_Listed]] = [members]
    while stack:
        member = next(stack[-1], None)
        if member is None:
            stack.pop()
            continue
        yield member
        if infinite and type(member) is not ListedFile and member.is_collection:
            stack.append(_members(member, with_digests=with_digests, listed=listed))


def _digests_fetched(resources: Iterator[_Listed]) -> Iterator[_Listed]:
    """``resources``, with the digests of those files whose listing did not know them
    fetched :data:`DIGEST_BATCH` at a time (one provider call instead of one per file)."""
    while batch := list(itertools.islice(resources, DIGEST_BATCH)):
        files = [
            r
            for r in batch
            if isinstance(r, StorageResource) and not r.is_collection and r.known_digests is None
        ]
        if files:
            try:
                known = digests_many(files[0].ctx.storage, [r.storage_path for r in files])
            except ProviderError:  # each file then asks on its own, and reports its error
                known = {}
            for r in files:
                r.known_digests = known.get(r.storage_path)
        yield from batch


def _members(res: _DAVResource, *, with_digests: bool, listed: bool) -> Iterator[_Listed]:
    if listed and isinstance(res, FolderResource):
        return res.iter_listed(with_digests=with_digests)
    if isinstance(res, FolderResource):
        return res.iter_members_with_digests() if with_digests else res.iter_members()
    return iter(res.get_member_list())


def _body(
    first: list[_Listed], rest: Iterator[_Listed], render: _Responses, path: str
) -> Iterator[bytes]:
    block = [_HEAD]
    size = len(_HEAD)
    try:
        for res in itertools.chain(first, rest):
            data = render(res)
            block.append(data)
            size += len(data)
            if size >= BLOCK_BYTES:
                yield b"".join(block)
                block, size = [], 0
        block.append(_TAIL)
        yield b"".join(block)
    except Exception:
        _log.exception("PROPFIND %s: the listing failed while it was sent; answer cut short", path)
        raise


class _Responses:
    """Writes the ``<D:response>`` of each resource for one request (``mode``, ``names``);
    for ``prop`` requests the property tags and readers are worked out once."""

    def __init__(self, mode: _Mode, names: list[str]) -> None:
        self.mode = mode
        self.names = names
        self.writer = response_writer(tuple(names))
        self.readers = [_DIRECT.get(name) for name in names]
        listed = mode == "named" and all(name in _LISTED for name in names)
        self.listed_readers = [_LISTED[name] for name in names] if listed else []
        self.listed_template = self.writer.text_template(_LISTED_CHILDREN) if listed else None
        self.listed = self.listed_template is not None
        """Files of stored folders may come as ``ListedFile`` records (every property asked
        for is in :data:`_LISTED`, and there is at least one)."""

    def __call__(self, res: _Listed) -> bytes:
        """One serialised ``<D:response>`` for ``res`` (a resource or a ``ListedFile``)."""
        if type(res) is ListedFile:
            assert self.listed_template is not None  # ListedFile records only when listed
            texts = [read(res) for read in self.listed_readers]
            known = [text for text in texts if text is not None]
            if len(known) == len(texts) and SAFE_TEXT.fullmatch(res.href + "".join(known)):
                return self.listed_template.format(res.href, *known).encode("ascii")
            res = res.resource()
        href = res.get_href()
        if self.mode == "named" and (type(res) is FileResource or type(res) is FolderResource):
            direct = self.writer.render(href, self._named_values(res))
            if direct is not None:
                return direct
        return _response(res, href, self.mode, self.names)

    def _named_values(self, res: StorageResource) -> list[Value]:
        """The values ``res.get_properties("named", name_list=names)`` gives, for a stored
        file or folder: the common live properties read directly, every other name as
        before."""
        values: list[Value] = []
        for name, direct in zip(self.names, self.readers, strict=True):
            try:
                value = direct(res) if direct is not None else res.get_property_value(name)
            except DAVError as exc:
                value = exc
            except Exception as exc:
                value = as_DAVError(exc)
            values.append(value)
        return values


def _response(res: _DAVResource, href: str, mode: _Mode, names: list[str]) -> bytes:
    """One serialised ``<D:response>`` for ``res``, read through WsgiDAV."""
    if mode == "named":
        props = res.get_properties("named", name_list=names)
    else:
        props = res.get_properties(mode)
    direct = render_response(href, props)
    if direct is not None:
        return direct
    holder = etree.Element("{DAV:}multistatus", nsmap={"D": "DAV:"})
    util.add_property_response(holder, href, props)
    # Serialised with its parent, so the response carries no second xmlns:D (the bytes are
    # those WsgiDAV sends for the same member); the parent's tags are cut off.
    data: bytes = etree.tostring(holder)
    if not (data.startswith(_OPEN) and data.endswith(_TAIL)):  # pragma: no cover - lxml
        raise AssertionError(f"unexpected serialisation of {href!r}")
    return data[len(_OPEN) : -len(_TAIL)]


def _content_length(res: StorageResource) -> str:
    length = res.get_content_length()
    if length is None:  # a collection
        raise DAVError(HTTP_NOT_FOUND)
    return str(length)


def _last_modified(res: StorageResource) -> str:
    return http_date(res.get_last_modified())


def _etag(res: StorageResource) -> str:
    etag = res.get_etag()
    if etag is None:
        raise DAVError(HTTP_NOT_FOUND)
    return f'"{etag}"'


def _resource_type(res: StorageResource) -> etree._Element | str:
    if not res.is_collection:
        return ""
    element = etree.Element("{DAV:}resourcetype")
    etree.SubElement(element, "{DAV:}collection")
    return element


def _checksums(res: StorageResource) -> PropertyValue | TextChild:
    if res.is_collection:
        return res.get_property_value(_CHECKSUMS)
    return TextChild("checksum", res.get_digests().as_oc_checksums())


_DIRECT: dict[str, Callable[[StorageResource], Value]] = {
    _CHECKSUMS: _checksums,
    "{DAV:}getcontentlength": _content_length,
    "{DAV:}getetag": _etag,
    "{DAV:}getlastmodified": _last_modified,
    "{DAV:}resourcetype": _resource_type,
}
"""Live properties of stored files and folders read here directly, with the values WsgiDAV's
``get_property_value`` gives them (``oc:checksums`` of a file as a ``TextChild`` rather than
an lxml element), without its per-property lock and dead-property plumbing."""


_LISTED: dict[str, Callable[[ListedFile], str | None]] = {
    _CHECKSUMS: lambda f: None if f.digests is None else f.digests.as_oc_checksums(),
    "{DAV:}getcontentlength": lambda f: str(f.entry.size),
    "{DAV:}getetag": lambda f: f'"{f.entry.etag}"',
    "{DAV:}getlastmodified": lambda f: http_date(f.entry.mtime_ns / 1e9),
    "{DAV:}resourcetype": lambda f: "",
}
"""The text of the properties of :data:`_DIRECT` for a file met in a listing, read from its
entry and the digests the listing knew (None: not known; the file is then answered through
its resource): the values ``_DIRECT`` gives, without a resource."""

_LISTED_CHILDREN = {_CHECKSUMS: "checksum"}
"""Properties of :data:`_LISTED` whose text sits in one child element (``oc:checksum``)."""
