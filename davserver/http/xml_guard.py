"""Request XML is checked here before WsgiDAV parses it.

WsgiDAV parses request bodies with lxml and ``resolve_entities=False`` (so no external entity
is fetched and no entity is expanded), but it accepts any DOCTYPE, any nesting libxml2 allows
(256 levels) and any number of elements, and it logs the whole body when parsing fails. A
WebDAV body never needs a DTD, so ``check_xml`` refuses:

- anything that is not well-formed XML (with a parser that resolves no entity, loads no DTD
  and uses no network);
- any document type declaration (internal or external subset, so no entity definitions:
  billion laughs and XXE are refused before any expansion could happen);
- nesting deeper than ``max_depth`` elements and more than ``max_elements`` elements.

``check_xml`` raises ``XMLRefusedError`` (the caller answers 400); it never raises anything
else for any input.
"""

from __future__ import annotations

from lxml import etree

from davserver.errors import DavserverError

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ELEMENTS = 10_000


class XMLRefusedError(DavserverError, ValueError):
    """The body is not acceptable request XML; ``str()`` says why (safe to show)."""


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers must not be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        collect_ids=False,
    )


def check_xml(
    body: bytes,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> None:
    """Refuse ``body`` unless it is well-formed XML within the limits (module docstring)."""
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise XMLRefusedError("the body is not well-formed XML") from exc
    if root is None:
        raise XMLRefusedError("the body holds no XML element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XMLRefusedError("document type declarations are not accepted")
    depth = 0
    elements = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        elements += 1
        if depth > max_depth:
            raise XMLRefusedError(f"XML nested deeper than {max_depth} elements")
        if elements > max_elements:
            raise XMLRefusedError(f"more than {max_elements} XML elements")
