from collections.abc import Sequence

from _typeshed.wsgi import WSGIEnvironment
from lxml import etree
from wsgidav._types import IfHeaderDict, PropertyValue
from wsgidav.dav_error import DAVError
from wsgidav.dav_provider import _DAVResource

def get_rfc1123_time(secs: float | None = None) -> str: ...
def get_rfc3339_time(secs: float | None = None) -> str: ...

# Seconds since the epoch, or None for text in none of the HTTP date formats.
def parse_time_string(timestring: str) -> int | None: ...
def get_uri_name(uri: str) -> str: ...
def get_uri_parent(uri: str) -> str | None: ...
def is_child_uri(parent_uri: str, child_uri: str) -> bool: ...
def is_equal_or_child_uri(parent_uri: str, child_uri: str) -> bool: ...

# The request body as XML, or None if there is none (``allow_empty``); DAVError 400 if it is
# not well-formed.
def parse_xml_body(
    environ: WSGIEnvironment, *, allow_empty: bool = False
) -> etree._Element | None: ...

# Appends one <D:response> for ``href`` to ``multistatus_elem``; a DAVError value puts the
# property under a <D:propstat> of that status.
def add_property_response(
    multistatus_elem: etree._Element,
    href: str,
    prop_list: Sequence[tuple[str, PropertyValue | DAVError]],
) -> None: ...

# Sets ``environ["wsgidav.conditions.if"]`` (the parsed If header, or None) and
# ``environ["wsgidav.ifLockTokenList"]``.
def parse_if_header_dict(environ: WSGIEnvironment) -> None: ...
def test_if_header_dict(
    dav_res: _DAVResource,
    if_dict: IfHeaderDict,
    fullurl: str,
    locktoken_list: list[str],
    entity_tag: str,
) -> bool: ...
