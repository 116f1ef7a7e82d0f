"""One PROPFIND ``<D:response>`` written as text, byte for byte as WsgiDAV and lxml write it.

WsgiDAV renders each member of a listing by building an lxml tree with
``util.add_property_response`` and serialising it; for a listing of thousands of files that
tree is a large share of the time. ``render_response`` writes the same bytes directly for the
values the common property sets have (text, an error status, ``<D:collection/>`` in
``resourcetype``, one text child as in ``oc:checksums``) and returns None for anything else
(non-ASCII or control characters, attributes, deeper elements, properties without a
namespace, other value types), which the caller then renders with lxml as before.

The result is the ``<D:response>`` element as lxml serialises it inside a
``<D:multistatus xmlns:D="DAV:">`` parent (ASCII, no XML declaration): namespaces other than
``DAV:`` are declared on the response as ``NS1``, ``NS2``... in the order the properties name
them, properties are grouped into one ``propstat`` per status in order of first appearance.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from lxml import etree
from wsgidav.dav_error import DAVError, get_http_status_string

if TYPE_CHECKING:
    from wsgidav._types import PropertyValue

__all__ = ["SAFE_TEXT", "ResponseWriter", "TextChild", "render_response", "response_writer"]

_OK = "200 OK"
_PLAIN_TEXT = re.compile(r"[\x20-\x7e\t\n]*")
"""Text lxml writes unchanged apart from escaping ``&``, ``<`` and ``>`` (no character
references, no ``&#13;``, nothing it refuses)."""
SAFE_TEXT = re.compile(r"[\x20-\x25\x27-\x3b\x3d\x3f-\x7e\t\n]*")
"""Plain text without ``&``, ``<`` and ``>``: written as it is."""
_PLAIN_URI = re.compile(r"[A-Za-z0-9:/._~#?=+-]+")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class TextChild:
    """A value written as one element ``local`` in the property's namespace holding ``text``
    (``<oc:checksums><oc:checksum>text</oc:checksum></oc:checksums>``) without building it
    in lxml. Only ``render_response`` understands it: when it declines, the caller reads the
    properties again the ordinary way."""

    local: str
    text: str


Value: TypeAlias = "PropertyValue | TextChild | DAVError"
"""A property value to write: what WsgiDAV's ``get_property_value`` gives (text, an lxml
element, an int, None), a ``TextChild``, or the DAVError of a property that failed."""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_response(href: str, props: Sequence[tuple[str, Value]]) -> bytes | None:
    """The serialised ``<D:response>`` for ``href`` and ``props`` (name in Clark notation,
    value: text, None, an lxml element or a DAVError), or None if a value or name is one this
    module does not write (see the module docstring)."""
    writer = response_writer(tuple(name for name, _ in props))
    return writer.render(href, [value for _, value in props])


def response_writer(names: tuple[str, ...]) -> ResponseWriter:
    """The ``ResponseWriter`` for ``names``; those of up to :data:`_KEPT_NAMES` names are
    kept for the next request asking for the same."""
    if len(names) > _KEPT_NAMES:
        return ResponseWriter(names)
    return _kept_writer(names)


_KEPT_NAMES = 64


@functools.lru_cache(maxsize=256)
def _kept_writer(names: tuple[str, ...]) -> ResponseWriter:
    return ResponseWriter(names)


class ResponseWriter:
    """``render_response`` for one fixed list of property names: the namespace declarations
    and the tags of the properties are worked out once (per request, not per member)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        prefixes: dict[str, str] = {"DAV:": "D"}
        tags = _tags(names, prefixes)
        self._tags = tags
        """(tag, namespace, empty element, start tag, end tag) per name; None if a name is
        one this module does not write."""
        self._prefixes = prefixes
        declarations = "".join(
            f' xmlns:{prefix}="{ns}"' for ns, prefix in prefixes.items() if prefix != "D"
        )
        self._open = f"<D:response{declarations}><D:href>"

    def render(self, href: str, values: list[Value]) -> bytes | None:
        """``render_response(href, list(zip(names, values)))``."""
        tags = self._tags
        if tags is None or not _PLAIN_TEXT.fullmatch(href):
            return None
        if not tags:  # no propstat at all
            return self._grouped(href, values)
        rendered: list[str] = []
        for (tag, ns, _, start, end), value in zip(tags, values, strict=True):
            if type(value) is str and SAFE_TEXT.fullmatch(value):
                rendered.append(f"{start}{value}{end}")
                continue
            if type(value) is not str and type(value) is not TextChild:
                # an error, an element, None: the general way (folders, unusual properties)
                return self._grouped(href, values)
            found = _property(tag, value, ns, self._prefixes)
            if found is None:
                return None
            rendered.append(found)
        return (
            f"{self._open}{_escape(href)}</D:href><D:propstat><D:prop>{''.join(rendered)}"
            f"</D:prop><D:status>HTTP/1.1 {_OK}</D:status></D:propstat></D:response>"
        ).encode("ascii")

    def text_template(self, children: dict[str, str]) -> str | None:
        """A ``str.format`` template of the ``<D:response>`` whose properties all have plain
        text values with status 200: ``{}`` for the href (already quoted) and then for each
        property's text, in order; the text of a name in ``children`` sits in one child
        element of that local name (as a ``TextChild`` would). The caller fills in text that
        ``SAFE_TEXT`` matches (nothing to escape), else renders with ``render``. None if a
        name is one this module does not write."""
        tags = self._tags
        if not tags:
            return None
        parts = [self._open, "{}</D:href><D:propstat><D:prop>"]
        for tag, ns, _, start, end in tags:
            local = children.get(_clark(ns, tag))
            if local is None:
                parts.append(f"{_braces(start)}{{}}{_braces(end)}")
            else:
                inner = _braces(f"{self._prefixes[ns]}:{local}")
                parts.append(f"{_braces(start)}<{inner}>{{}}</{inner}>{_braces(end)}")
        parts.append(f"</D:prop><D:status>HTTP/1.1 {_OK}</D:status></D:propstat></D:response>")
        return "".join(parts)

    def _grouped(self, href: str, values: list[Value]) -> bytes | None:
        """``render`` for values of any kind: one ``propstat`` per status, in the order the
        statuses first appear."""
        tags = self._tags
        assert tags is not None
        groups: dict[str, list[str]] = {}
        for (tag, ns, empty, _, _), value in zip(tags, values, strict=True):
            status = _OK
            if isinstance(value, DAVError):
                status, rendered = get_http_status_string(value), empty
            else:
                found = _property(tag, value, ns, self._prefixes)
                if found is None:
                    return None
                rendered = found
            group = groups.get(status)
            if group is None:
                groups[status] = [rendered]
            else:
                group.append(rendered)
        parts = [self._open, _escape(href), "</D:href>"]
        for status, rendered_props in groups.items():
            parts.append("<D:propstat><D:prop>")
            parts.extend(rendered_props)
            parts.append(f"</D:prop><D:status>HTTP/1.1 {status}</D:status></D:propstat>")
        parts.append("</D:response>")
        return "".join(parts).encode("ascii")


def _tags(
    names: tuple[str, ...], prefixes: dict[str, str]
) -> list[tuple[str, str, str, str, str]] | None:
    """(tag, namespace, empty element, start tag, end tag) of each name, adding the prefixes
    of new namespaces to ``prefixes``; None if a name is one this module does not write."""
    tags: list[tuple[str, str, str, str, str]] = []
    for name in names:
        if not name.startswith("{") or "}" not in name:
            return None
        ns, local = name[1:].split("}", 1)
        if not _PLAIN_NAME.fullmatch(local):
            return None
        if ns not in prefixes:
            if not _PLAIN_URI.fullmatch(ns):
                return None
            prefixes[ns] = f"NS{len(prefixes)}"
        tag = f"{prefixes[ns]}:{local}"
        tags.append((tag, ns, f"<{tag}/>", f"<{tag}>", f"</{tag}>"))
    return tags


def _property(
    tag: str, value: PropertyValue | TextChild, ns: str, prefixes: dict[str, str]
) -> str | None:
    if value is None:
        return f"<{tag}/>"
    if isinstance(value, str):
        return f"<{tag}>{_escape(value)}</{tag}>" if _PLAIN_TEXT.fullmatch(value) else None
    if isinstance(value, etree._Element):
        return _element(tag, value, ns, prefixes)
    if isinstance(value, TextChild):
        if not (_PLAIN_NAME.fullmatch(value.local) and _PLAIN_TEXT.fullmatch(value.text)):
            return None
        inner = f"{prefixes[ns]}:{value.local}"
        return f"<{tag}><{inner}>{_escape(value.text)}</{inner}></{tag}>"
    return None


def _element(tag: str, value: etree._Element, ns: str, prefixes: dict[str, str]) -> str | None:
    """``<D:resourcetype><D:collection/></D:resourcetype>`` and elements like
    ``<oc:checksums><oc:checksum>text</oc:checksum></oc:checksums>``: the property element
    itself (in the property's namespace) holding at most one child in the same namespace,
    no attributes, no tails."""
    if value.tag != _clark(ns, tag) or value.attrib or len(value) > 1:
        return None
    if value.text is not None or value.tail is not None:
        return None
    if not set(value.nsmap.values()) <= prefixes.keys():
        return None
    if len(value) == 0:
        return f"<{tag}/>"
    child = value[0]
    if not isinstance(child.tag, str) or child.attrib or len(child) or child.tail is not None:
        return None
    child_local = child.tag[len(ns) + 2 :]
    if not child.tag.startswith(f"{{{ns}}}") or not _PLAIN_NAME.fullmatch(child_local):
        return None
    if not set(child.nsmap.values()) <= prefixes.keys():
        return None
    inner = f"{prefixes[ns]}:{child_local}"
    text = child.text
    if text is None:
        return f"<{tag}><{inner}/></{tag}>"
    if not _PLAIN_TEXT.fullmatch(text):
        return None
    return f"<{tag}><{inner}>{_escape(text)}</{inner}></{tag}>"


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _clark(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag.split(':', 1)[1]}"
