"""Accept-Encoding negotiation and streaming gzip."""

from __future__ import annotations

import gzip
import itertools
import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.http.encoding import (
    MAX_GZIP_SIZE,
    MIN_GZIP_SIZE,
    accepts_gzip,
    gzip_stream,
    is_compressible,
    parse_accept_encoding,
    should_gzip,
)

pytestmark = pytest.mark.unit

PROPERTY = settings(database=None, deadline=None, max_examples=200)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/csv; charset=utf-8",
        "TEXT/HTML",
        "application/json",
        "application/xml",
        "application/javascript",
        "application/ld+json",
        "application/atom+xml; charset=utf-8",
        "image/svg+xml",
        "application/x-ndjson",
    ],
)
def test_compressible_types(content_type: str) -> None:
    assert is_compressible(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "image/png",
        "image/jpeg",
        "application/octet-stream",
        "application/zip",
        "application/gzip",
        "video/mp4",
        "application/x-7z-compressed",
        "textual/plain",
    ],
)
def test_incompressible_types(content_type: str) -> None:
    assert not is_compressible(content_type)


def test_parse_accept_encoding_rfc_examples() -> None:
    # RFC 9110 12.5.3
    assert parse_accept_encoding("compress, gzip") == {"compress": 1.0, "gzip": 1.0}
    assert parse_accept_encoding("") == {}
    assert parse_accept_encoding("*") == {"*": 1.0}
    assert parse_accept_encoding("compress;q=0.5, gzip;q=1.0") == {"compress": 0.5, "gzip": 1.0}
    assert parse_accept_encoding("gzip;q=1.0, identity; q=0.5, *;q=0") == {
        "gzip": 1.0,
        "identity": 0.5,
        "*": 0.0,
    }


def test_parse_accept_encoding_leniency() -> None:
    assert parse_accept_encoding("X-GZIP ; Q=0.25") == {"gzip": 0.25}
    assert parse_accept_encoding("gzip;q=abc, br") == {"br": 1.0}
    assert "gzip" not in parse_accept_encoding("gzip;q=1.5")
    assert "gzip" not in parse_accept_encoding("gzip;q=0.1234")
    assert "gzip" not in parse_accept_encoding("gzip;q=")
    assert parse_accept_encoding("gzip;level=9") == {"gzip": 1.0}
    assert parse_accept_encoding("gzip;q=0, gzip;q=0.5") == {"gzip": 0.5}
    assert parse_accept_encoding(",, ;q=1,") == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZip", True),
        ("x-gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("gzip;q=0.001", True),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("deflate, br", False),
        ("identity;q=1, gzip;q=0.5", False),
        ("identity;q=0.5, gzip;q=0.5", True),
        ("gzip;q=0.5, *;q=1", False),
        ("gzip, identity;q=0", True),
        ("gzip;q=abc", False),
        ("gzip;q=2", False),
    ],
)
def test_accepts_gzip(value: str | None, expected: bool) -> None:
    assert accepts_gzip(value) is expected


def test_should_gzip_size_bounds() -> None:
    assert not should_gzip("gzip", "text/plain", MIN_GZIP_SIZE - 1)
    assert should_gzip("gzip", "text/plain", MIN_GZIP_SIZE)
    assert should_gzip("gzip", "text/plain", MAX_GZIP_SIZE)
    assert not should_gzip("gzip", "text/plain", MAX_GZIP_SIZE + 1)
    assert not should_gzip("gzip", "text/plain", 0)
    assert not should_gzip("gzip", "text/plain", -1)


def test_should_gzip_needs_all_three_conditions() -> None:
    assert should_gzip("gzip, deflate", "application/json", 10_000)
    assert not should_gzip(None, "application/json", 10_000)
    assert not should_gzip("br", "application/json", 10_000)
    assert not should_gzip("gzip", "image/png", 10_000)


def test_gzip_stream_round_trip_and_no_empty_chunks() -> None:
    data = [b"hello " * 1000, b"", b"world\n" * 5000]
    out = list(gzip_stream(data))
    assert all(out)
    assert gzip.decompress(b"".join(out)) == b"".join(data)


def test_gzip_stream_of_nothing_is_a_valid_empty_member() -> None:
    assert gzip.decompress(b"".join(gzip_stream([]))) == b""


def test_gzip_stream_accepts_other_buffers_and_levels() -> None:
    chunks: list[bytes | bytearray | memoryview] = [bytearray(b"a" * 100), memoryview(b"b" * 100)]
    for level in (-1, 0, 1, 9):
        out = b"".join(gzip_stream(chunks, level=level))
        assert gzip.decompress(out) == b"a" * 100 + b"b" * 100


@pytest.mark.parametrize("level", [10, -2, 100])
def test_gzip_stream_rejects_bad_levels_at_once(level: int) -> None:
    with pytest.raises(ValueError):
        gzip_stream([b"x"], level=level)


def test_gzip_stream_is_lazy() -> None:
    pulled = 0
    rng = random.Random(0)

    def endless() -> Iterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield rng.randbytes(65536)

    first = list(itertools.islice(gzip_stream(endless(), level=1), 3))
    assert len(first) == 3
    assert pulled <= 3


@PROPERTY
@given(st.lists(st.binary(max_size=4096), max_size=20), st.integers(min_value=-1, max_value=9))
def test_gzip_stream_decompresses_to_the_input(chunks: list[bytes], level: int) -> None:
    out = list(gzip_stream(chunks, level=level))
    assert all(out)
    assert gzip.decompress(b"".join(out)) == b"".join(chunks)


@PROPERTY
@given(
    st.one_of(st.none(), st.text(), st.text(alphabet="gzipx-*;q=0.1 ,identybr")),
    st.text(),
    st.integers(),
)
def test_should_gzip_never_raises(accept: str | None, content_type: str, size: int) -> None:
    assert isinstance(should_gzip(accept, content_type, size), bool)
