"""Known quirks of clients (and of WsgiDAV) that stock clients run into, in one table.

Each ``Quirk`` names what is sent or misread, which client it bites, why, and the smallest
request rewrite that fixes it. ``RequestQuirks`` (a middleware placed after authentication,
access control and the body limits, before WsgiDAV's handlers) applies every quirk whose
method matches. A quirk only ever rewrites a request into one WsgiDAV already handles
correctly; it never changes what a correct request means.

The compatibility lab (``interop/``, ``tests/interop/``) has a test for each entry; see
docs/COMPATIBILITY.md.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from davserver.http.environ import ContentLengthError, StartResponse, WSGIApp, declared_length

BodyRewrite = Callable[[bytes], bytes | None]

DEFAULT_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Quirk:
    """One known quirk: who is affected, why, and the body rewrite that fixes it."""

    name: str
    methods: frozenset[str]
    affects: str
    reason: str
    rewrite_body: BodyRewrite


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _parse(body: bytes) -> Any:
    try:
        return etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError:
        return None  # WsgiDAV answers 400 for the original body


def propname_as_wsgidav_name(body: bytes) -> bytes | None:
    """``<D:propfind><D:propname/></D:propfind>`` -> the ``<D:name/>`` WsgiDAV looks for."""
    if b"propname" not in body:
        return None
    root = _parse(body)
    if root is None or root.tag != "{DAV:}propfind":
        return None
    changed = False
    for child in root:
        if child.tag == "{DAV:}propname":
            child.tag = "{DAV:}name"
            changed = True
    if not changed:
        return None
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        name="propfind-propname",
        methods=frozenset({"PROPFIND"}),
        affects="cadaver `propnames`, any client asking which properties exist (RFC 4918 9.1)",
        reason=(
            "WsgiDAV 4.4.0 compares the PROPFIND body's element with {DAV:}name instead of "
            "RFC 4918's {DAV:}propname, so a propname request fell through to an empty 'named' "
            "request and was answered with responses that list no property at all. The "
            "element is renamed to the one WsgiDAV recognises; its name-only answer is right."
        ),
        rewrite_body=propname_as_wsgidav_name,
    ),
)


def _declared_length(environ: dict[str, Any]) -> int | None:
    try:
        return declared_length(environ)
    except ContentLengthError:
        return None  # the request guard answers it


def _read_body(environ: dict[str, Any], length: int) -> bytes:
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    remaining = length
    while remaining > 0:
        block = stream.read(min(remaining, 64 * 1024))
        if not block:
            break
        chunks.append(block)
        remaining -= len(block)
    return b"".join(chunks)


class RequestQuirks:
    """Applies ``QUIRKS`` (see the module docstring) to bodies of at most ``max_body`` bytes."""

    def __init__(self, next_app: WSGIApp, *, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.next_app = next_app
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "")).upper()
        quirks = [q for q in QUIRKS if method in q.methods]
        if quirks:
            self._apply(environ, quirks)
        return self.next_app(environ, start_response)

    def _apply(self, environ: dict[str, Any], quirks: list[Quirk]) -> None:
        length = _declared_length(environ)
        if not length or length > self.max_body:
            return  # no body, or one the limits reject anyway
        body = original = _read_body(environ, length)
        applied = []
        for quirk in quirks:
            rewritten = quirk.rewrite_body(body)
            if rewritten is not None:
                body = rewritten
                applied.append(quirk.name)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if body is not original:
            environ["davsync.quirks"] = applied
