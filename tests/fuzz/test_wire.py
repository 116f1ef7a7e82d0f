"""A network fuzz target: generated (mostly malformed) WebDAV requests against a real server.
Whatever arrives, the answer is a status line (no dropped connection) and never an internal
error; afterwards the server still serves and nothing exists outside the user's home."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import fuzz_settings
from tests.hostile.conftest import HOSTILE_CONFIG
from tests.support import rawhttp
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.integration

ACCEPTABLE_5XX = {501, 502, 505, 507}  # not implemented, foreign Destination, version, quota
HOME = "/remote.php/dav/files/alice/"

printable = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)
segment_atoms = st.sampled_from(
    [
        "a",
        "b.txt",
        "%2F",
        "%2f",
        "%5C",
        "..",
        ".",
        "%2e%2e",
        "%00",
        "%ff",
        "%C3%A9",
        "e%CC%81",
        "%",
        "%zz",
        "CON",
        "x" * 300,
        "%20",
        "~",
        ";",
        "?q",
        "#f",
        "//",
        "dir/",
    ]
)
paths = st.lists(segment_atoms, max_size=5).map(lambda parts: HOME + "/".join(parts))
methods = st.sampled_from(
    [
        "GET",
        "HEAD",
        "PUT",
        "DELETE",
        "MKCOL",
        "COPY",
        "MOVE",
        "PROPFIND",
        "PROPPATCH",
        "LOCK",
        "UNLOCK",
        "OPTIONS",
        "PATCH",
        "POST",
        "TRACE",
        "SEARCH",
        "REPORT",
    ]
) | st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=10)
header_values = {
    "Depth": st.sampled_from(["0", "1", "infinity", "Infinity", "2", "", "-1", "0, 1"]) | printable,
    "Overwrite": st.sampled_from(["T", "F", "t", "X", ""]) | printable,
    "Destination": st.sampled_from(
        [
            HOME + "dst",
            "http://127.0.0.1/x",
            "http://evil/x" + HOME,
            "/dav/files/bob/x",
            "",
            "::",
            HOME + "%2e%2e/x",
            HOME + "a%00",
        ]
    )
    | printable,
    "If": st.sampled_from(
        [
            "(<urn:x>)",
            '(["e"])',
            '(Not ["e"])',
            "<" + HOME + "> (<urn:x>)",
            "((",
            "(<>)",
            '([W/"x"])',
        ]
    )
    | printable,
    "Timeout": st.sampled_from(["Second-10", "Infinite", "Second-", "Second-99999999999"])
    | printable,
    "Lock-Token": st.sampled_from(["<urn:x>", "urn:x", "<>", "<a> <b>"]) | printable,
    "Content-Type": st.sampled_from(["text/xml", "application/xml; charset=utf-8", "x"]),
    "Range": st.sampled_from(["bytes=0-1", "bytes=5-1", "bytes=-0", "bytes=0-0,1-1", "x"]),
    "If-Match": st.sampled_from(['"x"', "*", 'W/"x"', "garbage"]),
    "X-OC-Mtime": st.sampled_from(["1600000000", "-1", "nan", "1e999", ""]),
    "OC-Checksum": st.sampled_from(["SHA1:00", "MD5:zz", "SHA256:" + "0" * 64, "x"]),
    "X-Recalculate-Hash": st.sampled_from(["sha1", "md5", "crc32", ""]),
    "Content-Range": st.sampled_from(["bytes 0-0/1", "x"]),
}
headers = st.dictionaries(st.sampled_from(sorted(header_values)), st.just(""), max_size=5).flatmap(
    lambda keys: st.fixed_dictionaries({k: header_values[k] for k in keys})
)
xml_bits = st.sampled_from(
    [
        b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
        b"<D:prop>",
        b"</x>",
        b"&e;",
        b'<!DOCTYPE x [<!ENTITY e "e">]>',
        b'<?xml version="1.0"?>',
        b"<a>" * 50,
        b"\x00\xff",
    ]
)
bodies = st.just(b"") | st.binary(max_size=200) | st.lists(xml_bits, max_size=6).map(b"".join)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    srv = start_server(tmp_path_factory.mktemp("wirefuzz"), HOSTILE_CONFIG)
    yield srv
    srv.stop()


@fuzz_settings(40)
@given(method=methods, path=paths, extra=headers, body=bodies, authenticated=st.booleans())
def test_generated_requests_never_get_an_internal_error(
    target: DavServer,
    method: str,
    path: str,
    extra: dict[str, str],
    body: bytes,
    authenticated: bool,
) -> None:
    host = urlsplit(target.url).netloc
    auth = (
        rawhttp.digest(target.url, "alice", USERS["alice"], method, path) if authenticated else None
    )
    request = rawhttp.build(
        method,
        path,
        host=host,
        headers=[f"{k}: {v}" for k, v in extra.items()],
        body=body,
        auth=auth,
    )
    response = rawhttp.exchange(target.url, request)
    assert not response.dropped, f"dropped: {request[:300]!r}"
    assert response.status < 500 or response.status in ACCEPTABLE_5XX, (
        response.status,
        request[:300],
        response.body[:300],
    )


def test_server_healthy_after_the_fuzz_run(target: DavServer) -> None:
    host = urlsplit(target.url).netloc
    auth = rawhttp.digest(target.url, "bob", USERS["bob"], "PROPFIND", "/remote.php/dav/files/bob/")
    r = rawhttp.exchange(
        target.url,
        rawhttp.build(
            "PROPFIND", "/remote.php/dav/files/bob/", host=host, headers=["Depth: 1"], auth=auth
        ),
    )
    assert r.status == 207
    root = target.root
    assert {p.name for p in root.iterdir()} == {"files", ".davsync"}
    assert {p.name for p in (root / "files").iterdir()} == set(USERS)
    for home in ("bob", "carol", "oper"):
        assert list((root / "files" / home).iterdir()) == []
