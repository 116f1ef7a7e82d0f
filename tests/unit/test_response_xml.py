"""``render_response`` writes exactly the bytes WsgiDAV's lxml rendering gives, or declines."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from wsgidav import util
from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_NOT_FOUND, DAVError

from davserver.dav.response_xml import TextChild, render_response

OC = "http://owncloud.org/ns"
MS = "urn:schemas-microsoft-com:"
OPEN = b'<D:multistatus xmlns:D="DAV:">'
TAIL = b"</D:multistatus>"


def lxml_bytes(href: str, props: list[tuple[str, Any]]) -> bytes:
    """What WsgiDAV + lxml write for the same response (as davserver.dav.propfind does)."""
    holder = etree.Element("{DAV:}multistatus", nsmap={"D": "DAV:"})
    util.add_property_response(holder, href, props)
    data: bytes = etree.tostring(holder)
    return data[len(OPEN) : -len(TAIL)]


def collection() -> Any:
    element = etree.Element("{DAV:}resourcetype")
    etree.SubElement(element, "{DAV:}collection")
    return element


def checksums(text: str) -> Any:
    outer = etree.Element(f"{{{OC}}}checksums", nsmap={"oc": OC})
    etree.SubElement(outer, f"{{{OC}}}checksum").text = text
    return outer


FILE_PROPS: list[tuple[str, Any]] = [
    ("{DAV:}getcontentlength", "4096"),
    ("{DAV:}getetag", '"s-1-1000-18ed-18ed"'),
    ("{DAV:}getlastmodified", "Tue, 01 Dec 2026 15:13:38 GMT"),
    ("{DAV:}resourcetype", ""),
    (f"{{{OC}}}checksums", checksums("SHA1:ab MD5:cd SHA256:ef")),
    (f"{{{OC}}}fileid", "00000042"),
    (f"{{{OC}}}permissions", "RGDNVW"),
    (f"{{{MS}}}Win32FileAttributes", DAVError(HTTP_NOT_FOUND)),
]
FOLDER_PROPS: list[tuple[str, Any]] = [
    ("{DAV:}getcontentlength", DAVError(HTTP_NOT_FOUND)),
    ("{DAV:}getetag", '"d-1-2"'),
    ("{DAV:}resourcetype", collection()),
    (f"{{{OC}}}checksums", DAVError(HTTP_NOT_FOUND)),
    (f"{{{OC}}}size", "123"),
    ("{DAV:}quota-used-bytes", DAVError(HTTP_FORBIDDEN)),
    ("{DAV:}displayname", None),
]


@pytest.mark.parametrize("props", [FILE_PROPS, FOLDER_PROPS, FILE_PROPS[:1], []])
def test_common_property_sets_are_written_directly_and_identically(
    props: list[tuple[str, Any]],
) -> None:
    href = "/remote.php/dav/files/alice/a%20b/f&1.txt"
    direct = render_response(href, props)
    assert direct is not None
    assert direct == lxml_bytes(href, props)


@pytest.mark.parametrize(
    "value",
    [
        "caf\u00e9",  # lxml writes a character reference
        "a\rb",  # lxml writes &#13;
        "bad\x01",  # lxml refuses it
        7,
        etree.Element("{DAV:}x", attrib={"a": "1"}),
    ],
)
def test_values_it_does_not_write_are_declined(value: Any) -> None:
    assert render_response("/f", [("{DAV:}getetag", value)]) is None


def test_properties_without_namespace_and_deep_elements_are_declined() -> None:
    deep = etree.Element(f"{{{OC}}}checksums")
    etree.SubElement(etree.SubElement(deep, f"{{{OC}}}checksum"), f"{{{OC}}}x")
    assert render_response("/f", [("plain", "v")]) is None
    assert render_response("/f", [(f"{{{OC}}}checksums", deep)]) is None
    foreign = etree.Element(f"{{{OC}}}checksums")
    etree.SubElement(foreign, "{urn:other}checksum").text = "x"
    assert render_response("/f", [(f"{{{OC}}}checksums", foreign)]) is None


_NAMESPACES = st.sampled_from(["DAV:", OC, MS, "urn:x:y", "http://example.com/a?b=c"])
_LOCALS = st.sampled_from(["getetag", "a", "b-c", "d.e", "F_1", "checksums"])
_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x130), max_size=12)
_XML_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x130), st.sampled_from("\t\n\r")
    ),
    max_size=12,
)


@st.composite
def _values(draw: st.DrawFn, ns: str, local: str) -> Any:
    kind = draw(st.sampled_from(["text", "none", "error", "element", "bare", "child", "plain"]))
    if kind == "text":
        return draw(_TEXT)
    if kind == "plain":  # what listings mostly hold
        return draw(
            st.sampled_from(
                ["4096", '"s-1-2"', "Tue, 01 Dec 2026 15:13:38 GMT", "", "a&b", "x>y", "<z"]
            )
        )
    if kind == "child":
        return TextChild(draw(_LOCALS), draw(_XML_TEXT))
    if kind == "none":
        return None
    if kind == "error":
        return DAVError(draw(st.sampled_from([HTTP_NOT_FOUND, HTTP_FORBIDDEN, 424])))
    element = etree.Element(f"{{{ns}}}{local}")
    if kind == "element":
        child = etree.SubElement(element, f"{{{ns}}}{draw(_LOCALS)}")
        child.text = draw(st.one_of(st.none(), _XML_TEXT))
    return element


@st.composite
def _props(draw: st.DrawFn) -> list[tuple[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        ns, local = draw(_NAMESPACES), draw(_LOCALS)
        out.append((f"{{{ns}}}{local}", draw(_values(ns, local))))
    return out


def as_element(name: str, value: Any) -> Any:
    """A ``TextChild`` as the element it stands for (other values unchanged)."""
    if not isinstance(value, TextChild):
        return value
    ns = name[1:].split("}", 1)[0]
    element = etree.Element(name)
    etree.SubElement(element, f"{{{ns}}}{value.local}").text = value.text
    return element


@settings(max_examples=500, deadline=None)
@given(props=_props(), href=st.sampled_from(["/a/", "/a/b%20c", "/x&y<z>"]))
def test_whatever_it_writes_is_what_lxml_writes(props: list[tuple[str, Any]], href: str) -> None:
    try:
        expected: bytes | None = lxml_bytes(href, [(n, as_element(n, v)) for n, v in props])
    except ValueError:  # lxml refuses the text (control characters)
        expected = None
    direct = render_response(href, props)
    if direct is not None:
        assert direct == expected


def test_a_text_child_is_written_as_the_element_it_stands_for() -> None:
    text = "SHA1:ab MD5:cd SHA256:ef"
    name = f"{{{OC}}}checksums"
    direct = render_response("/f", [("{DAV:}getetag", '"e"'), (name, TextChild("checksum", text))])
    assert direct == lxml_bytes("/f", [("{DAV:}getetag", '"e"'), (name, checksums(text))])
    assert render_response("/f", [(name, TextChild("checksum", "caf\u00e9"))]) is None
