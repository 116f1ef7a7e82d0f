"""BoundedChunkedBody: the chunked request body reader (framing, lines, limits)."""

from __future__ import annotations

import io

import pytest
from cheroot import errors

from davserver.chunked_body import MAX_LINE_BYTES, MAX_TRAILERS, BoundedChunkedBody


def _body(wire: bytes, maxlen: int = 0) -> BoundedChunkedBody:
    return BoundedChunkedBody(io.BufferedReader(io.BytesIO(wire), 16), maxlen)


def _chunked(*chunks: bytes, trailers: bytes = b"") -> bytes:
    return (
        b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks)
        + b"0\r\n"
        + trailers
        + b"\r\n"
    )


def test_reads_across_chunks_in_the_sizes_asked_for() -> None:
    body = _body(_chunked(b"hello ", b"chunked ", b"world") + b"NEXT")
    assert body.read(3) == b"hel"
    assert body.read(10) == b"lo chunked"
    assert not body.closed
    assert body.read() == b" world"
    assert body.closed
    assert body.read(5) == b""
    assert body.rfile.read() == b"NEXT"  # the next request is left untouched


def test_lines_span_chunks() -> None:
    body = _body(_chunked(b"one\ntw", b"o\nthr", b"ee"), 0)
    assert list(body) == [b"one\n", b"two\n", b"three"]


def test_readline_stops_at_size() -> None:
    body = _body(_chunked(b"abcdef\n"))
    assert body.readline(4) == b"abcd"
    assert body.readline() == b"ef\n"


def test_trailers_are_read_and_dropped() -> None:
    body = _body(_chunked(b"x", trailers=b"X-Sum: 1\r\nX-Two: 2\r\n") + b"GET / HTTP/1.1\r\n")
    assert body.read() == b"x"
    assert list(body.read_trailer_lines()) == []
    assert body.rfile.readline() == b"GET / HTTP/1.1\r\n"


@pytest.mark.parametrize(
    "wire",
    [
        b"1" + b"0" * MAX_LINE_BYTES + b"\r\n",  # endless chunk-size line
        b"zz\r\nab\r\n0\r\n\r\n",  # not hex
        b"-1\r\n",  # signed
        b"0x2\r\nab\r\n0\r\n\r\n",  # a prefix int() would accept
        b"2\r\nabXX0\r\n\r\n",  # no CRLF after the chunk
        b"5\r\nab",  # ends early
        b"2\r\nab\r\n0\r\n" + b"X: y\r\n" * (MAX_TRAILERS + 1) + b"\r\n",  # too many trailers
    ],
)
def test_malformed_framing_is_a_value_error(wire: bytes) -> None:
    with pytest.raises(ValueError):
        _body(wire).read()


def test_maxlen_is_checked_before_the_chunk_is_read() -> None:
    body = _body(b"%x\r\n" % (1 << 40), maxlen=1000)
    with pytest.raises(errors.MaxSizeExceeded):
        body.read(10)
