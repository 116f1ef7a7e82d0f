"""In-process fuzz targets for the parsers in front of WsgiDAV: the XML guard, cheroot's
guarded header reader and the outer WSGI guard. Each must accept or refuse cleanly, with only
its own refusal exception (or a 400), for any input."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from davserver.cheroot_guard import SINGLETONS, GuardedHeaderReader
from davserver.http.xml_guard import XMLRefusedError, check_xml
from davserver.limits import FORWARDED_KEYS, RequestGuard
from tests.fuzz.conftest import fuzz_settings

pytestmark = pytest.mark.unit

# --- XML -----------------------------------------------------------------------------------

tags = st.sampled_from(["D:prop", "D:propfind", "a", "Z:x", "D:getetag", "x:y"])


@st.composite
def xml_trees(draw: st.DrawFn, depth: int = 0) -> str:
    tag = draw(tags)
    if depth >= 6 or draw(st.booleans()):
        text = draw(
            st.text(
                st.characters(
                    codec="utf-8", exclude_categories=("Cc", "Cs", "Cn"), exclude_characters="<&"
                ),
                max_size=8,
            )
        )
        return f"<{tag}>{text}</{tag}>" if text.strip() else f"<{tag}/>"
    children = draw(st.lists(xml_trees(depth + 1), max_size=3))
    return f"<{tag}>{''.join(children)}</{tag}>"


def wrap(tree: str) -> bytes:
    return f'<root xmlns:D="DAV:" xmlns:Z="urn:z" xmlns:x="urn:x">{tree}</root>'.encode()


@fuzz_settings(300)
@given(st.binary(max_size=400))
def test_check_xml_on_bytes(body: bytes) -> None:
    """Only XMLRefusedError comes out, and what passes is XML a plain parser reads too."""
    try:
        check_xml(body, max_depth=16)
    except XMLRefusedError:
        return
    assert etree.fromstring(body) is not None


@fuzz_settings(200)
@given(xml_trees())
def test_check_xml_accepts_well_formed_shallow_trees(tree: str) -> None:
    check_xml(wrap(tree), max_depth=16)


@fuzz_settings(200)
@given(
    xml_trees(),
    st.sampled_from(
        [
            '<!DOCTYPE r [<!ENTITY e "x">]>',
            "<!DOCTYPE r>",
            '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd">',
        ]
    ),
)
def test_check_xml_refuses_any_doctype(tree: str, doctype: str) -> None:
    with pytest.raises(XMLRefusedError):
        check_xml(b'<?xml version="1.0"?>' + doctype.encode() + wrap(tree), max_depth=16)


@fuzz_settings(100)
@given(st.integers(min_value=1, max_value=300))
def test_check_xml_depth_limit(depth: int) -> None:
    body = b"<a>" * depth + b"</a>" * depth
    if depth <= 40:
        check_xml(body, max_depth=40)
    else:
        with pytest.raises(XMLRefusedError):
            check_xml(body, max_depth=40)


# --- header reader ---------------------------------------------------------------------------

header_names = st.sampled_from(
    [
        b"Host",
        b"Content-Length",
        b"Depth",
        b"If",
        b"X_Forwarded_For",
        b"X-Forwarded-For",
        b"Accept",
        b"Destination",
        b"Bad Name",
        b"",
        b"X-\xff",
    ]
) | st.binary(max_size=12)
header_lines = st.builds(
    lambda n, sep, v, end: n + sep + v + end,
    header_names,
    st.sampled_from([b":", b": ", b"", b" : "]),
    st.binary(max_size=20),
    st.sampled_from([b"\r\n", b"\n", b""]),
) | st.sampled_from([b" folded\r\n", b"\t\r\n"])


@fuzz_settings(500)
@given(st.lists(header_lines, max_size=30))
def test_header_reader_accepts_or_refuses_cleanly(lines: list[bytes]) -> None:
    reader = GuardedHeaderReader(max_headers=20)
    stream = io.BytesIO(b"".join(lines) + b"\r\n")
    try:
        headers = reader(stream)
    except ValueError:
        return
    assert len(headers) <= 20
    assert not any(b"_" in k for k in headers)
    cl = headers.get(b"Content-Length")
    assert cl is None or cl.isdigit()


@fuzz_settings(200)
@given(
    st.sampled_from(sorted(SINGLETONS)),
    st.binary(min_size=1, max_size=10).filter(lambda v: b"\r" not in v and b"\n" not in v),
)
def test_header_reader_refuses_repeated_singletons(name: bytes, value: bytes) -> None:
    line = name + b": " + value.strip() + b"\r\n"
    with pytest.raises(ValueError):
        GuardedHeaderReader(max_headers=20)(io.BytesIO(line + line + b"\r\n"))


# --- the outer WSGI guard ------------------------------------------------------------------------

latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=60)


class Recorder:
    def __init__(self) -> None:
        self.status = ""

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.status = status
        return lambda data: None


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@fuzz_settings(500)
@given(
    path=latin1,
    destination=st.none() | latin1,
    length=st.none() | st.sampled_from(["", "0", "12", "-1", "+1", "1_0", " 5", "abc"]),
    chunked=st.booleans(),
    forwarded=st.dictionaries(st.sampled_from(FORWARDED_KEYS), latin1, max_size=3),
    remote=st.sampled_from(["127.0.0.1", "10.0.0.5", "::1", "garbage", ""]),
    method=st.sampled_from(["GET", "HEAD", "PUT", "MOVE", "PROPFIND"]),
)
def test_request_guard_never_raises(
    path: str,
    destination: str | None,
    length: str | None,
    chunked: bool,
    forwarded: dict[str, str],
    remote: str,
    method: str,
) -> None:
    guard = RequestGuard(app, trusted_proxies=["127.0.0.1", "::1"])
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "REQUEST_URI": "/" + path,
        "PATH_INFO": "/" + path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "h",
        "REMOTE_ADDR": remote,
        "wsgi.url_scheme": "http",
        **forwarded,
    }
    if destination is not None:
        environ["HTTP_DESTINATION"] = destination
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    recorder = Recorder()
    body = b"".join(guard(environ, recorder))
    assert recorder.status in ("200 OK", "400 Bad Request")
    if method == "HEAD":
        assert body == b""
    if recorder.status == "200 OK" and remote not in ("127.0.0.1", "::1"):
        assert not any(k in environ for k in FORWARDED_KEYS)
    assert environ["wsgi.url_scheme"] in ("http", "https")
