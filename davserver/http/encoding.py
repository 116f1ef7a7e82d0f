"""Content coding of responses: when to gzip (RFC 9110 12.5.3) and a streaming compressor.

A gzip-coded response is a different representation: the caller must send
``Content-Encoding: gzip`` and ``Vary: Accept-Encoding``, must not reuse the identity
representation's strong ETag unchanged, cannot send a Content-Length known in advance, and
should not gzip 206 (range) responses or HEAD responses whose GET would not be gzipped.

Policy of ``should_gzip``:

* The client must accept ``gzip`` (or ``x-gzip``, or ``*`` when gzip is not listed) with a
  q-value above 0. An absent Accept-Encoding field means "no preference", which is answered
  without a content coding. When ``identity`` (or ``*``, if identity is not listed) has a
  higher q-value than gzip, the identity representation is preferred. Members with a
  malformed q-value are ignored.
* The media type must be compressible (``is_compressible``).
* The size must be between ``MIN_GZIP_SIZE`` and ``MAX_GZIP_SIZE`` bytes inclusive: smaller
  bodies gain nothing, larger ones are streamed uncompressed so that they keep their
  Content-Length and the server's CPU stays bounded.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator

MIN_GZIP_SIZE = 256
"""Bodies smaller than this (bytes) are sent uncompressed."""

MAX_GZIP_SIZE = 64 * 1024 * 1024
"""Bodies larger than this (bytes) are sent uncompressed, with their Content-Length."""

DEFAULT_LEVEL = 6
"""zlib compression level used by ``gzip_stream``."""

COMPRESSIBLE_TYPES = frozenset(
    {
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/json",
        "application/x-ndjson",
        "application/xml",
        "application/xhtml+xml",
        "application/csv",
        "application/x-sh",
        "application/x-yaml",
        "application/yaml",
        "application/toml",
        "application/sql",
        "application/rtf",
        "application/postscript",
        "application/x-tar",
        "application/vnd.ms-fontobject",
        "font/otf",
        "font/ttf",
        "image/bmp",
        "image/svg+xml",
        "image/x-icon",
    }
)
"""Media types worth compressing besides ``text/*`` and the ``+json`` / ``+xml`` suffixes."""

_COMPRESSIBLE_SUFFIXES = ("+json", "+xml")
_QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)", re.ASCII)
_GZIP_WBITS = 31  # 16 + 15: gzip header and trailer, 32 KiB window


def is_compressible(content_type: str) -> bool:
    """True for ``text/*``, the ``COMPRESSIBLE_TYPES`` and ``+json`` / ``+xml`` types.

    Parameters (``; charset=...``) and case are ignored.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.startswith("text/"):
        return True
    return media_type in COMPRESSIBLE_TYPES or media_type.endswith(_COMPRESSIBLE_SUFFIXES)


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Map each coding named in an Accept-Encoding value to its q-value.

    Codings are lower-cased and ``x-gzip`` is read as ``gzip``. A member without a weight
    has q=1; a member with a malformed weight is dropped; a repeated coding keeps its
    highest q-value. Never raises.
    """
    weights: dict[str, float] = {}
    for member in value.split(","):
        coding, *params = (piece.strip(" \t") for piece in member.split(";"))
        if not coding:
            continue
        quality = _quality(params)
        if quality is None:
            continue
        name = "gzip" if coding.lower() == "x-gzip" else coding.lower()
        weights[name] = max(quality, weights.get(name, 0.0))
    return weights


def _quality(params: list[str]) -> float | None:
    """The q-value among ``params`` (1.0 when absent), or None when malformed."""
    for param in params:
        key, sep, raw = param.partition("=")
        if key.strip(" \t").lower() != "q":
            continue
        raw = raw.strip(" \t")
        if not sep or _QVALUE.fullmatch(raw) is None:
            return None
        return float(raw)
    return 1.0


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when ``accept_encoding`` makes gzip acceptable and not less wanted than identity."""
    if accept_encoding is None:
        return False
    weights = parse_accept_encoding(accept_encoding)
    gzip_q = weights.get("gzip", weights.get("*", 0.0))
    if gzip_q <= 0.0:
        return False
    return weights.get("identity", weights.get("*", 0.0)) <= gzip_q


def should_gzip(accept_encoding: str | None, content_type: str, size: int) -> bool:
    """Whether to send a response of ``size`` bytes of ``content_type`` gzip-coded.

    See the module documentation for the policy. Never raises.
    """
    return (
        MIN_GZIP_SIZE <= size <= MAX_GZIP_SIZE
        and is_compressible(content_type)
        and accepts_gzip(accept_encoding)
    )


def gzip_stream(
    chunks: Iterable[bytes | bytearray | memoryview], level: int = DEFAULT_LEVEL
) -> Iterator[bytes]:
    """Gzip-compress the concatenation of ``chunks`` as it is consumed, in constant memory.

    Yields only non-empty pieces; together they form one gzip member (RFC 1952). Raises
    ValueError at once for a ``level`` outside -1..9; exceptions from ``chunks`` propagate
    during iteration.
    """
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    return _compress(compressor, chunks)


def _compress(
    compressor: zlib._Compress, chunks: Iterable[bytes | bytearray | memoryview]
) -> Iterator[bytes]:
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    tail = compressor.flush()
    if tail:
        yield tail
