"""GET/HEAD of a stored file: RFC 9110 conditionals, single and multipart ranges, gzip,
``OC-Checksum`` and ``Repr-Digest`` (honouring ``Want-Repr-Digest``).

The body streams from the provider's reader in large blocks, so memory stays flat and a
concurrent replace of the file does not change what an in-flight response sends.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_SERVICE_UNAVAILABLE, DAVError

from davserver.dav.errors import translated
from davserver.dav.streamed import start_streamed
from davserver.http import conditional, encoding, ranges
from davserver.http.digests import oc_checksum_header, repr_digest_header
from davserver.http.environ import Environ, StartResponse, request_headers
from davserver.http.sendfile import offer_sendfile
from providers.base import Entry
from providers.hashing import Digests

if TYPE_CHECKING:
    from davserver.dav.resources import FileResource

READ_BLOCK = 1024 * 1024

_REASONS = {200: "OK", 206: "Partial Content", 304: "Not Modified", 412: "Precondition Failed"}


GZIP_TAG_SUFFIX = "-gzip"
"""A gzip-encoded response is a different representation, so it gets its own strong ETag.
The Nextcloud and ownCloud clients strip exactly ``-gzip`` from ETags they receive."""


def _fold_gzip_tags(headers: dict[str, str], etag: str) -> dict[str, str]:
    """Let validators of the gzip representation match the stored file's ETag."""
    gz = f'"{etag}{GZIP_TAG_SUFFIX}"'
    for name in ("if-none-match", "if-match", "if-range"):
        if name in headers and gz in headers[name]:
            headers[name] = headers[name].replace(gz, f'"{etag}"')
    return headers


def _slice(reader: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start..end`` (inclusive) of ``reader`` in blocks of at most READ_BLOCK."""
    reader.seek(start)
    remaining = end - start + 1
    while remaining > 0:
        block = reader.read(min(READ_BLOCK, remaining))
        if not block:
            return
        remaining -= len(block)
        yield block


def _closing(reader: IO[bytes], chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        reader.close()


SNAPSHOT_ATTEMPTS = 12


def _reader_is(reader: IO[bytes], entry: Entry) -> bool:
    """True if the open reader shows the version ``entry`` describes (size and mtime)."""
    try:
        st = os.fstat(reader.fileno())
    except (AttributeError, OSError, io.UnsupportedOperation):
        return True  # not a file descriptor (in-memory storage): nothing to compare
    return st.st_size == entry.size and st.st_mtime_ns == entry.mtime_ns


def _snapshot(res: FileResource) -> tuple[IO[bytes], Entry, Digests]:
    """An open reader with the entry and digests of exactly the version it reads.

    A replace can land between opening, stat and hashing; then the three are taken again.
    Raises DAVError 503 if the file changes on every attempt.
    """
    storage = res.ctx.storage
    for attempt in range(SNAPSHOT_ATTEMPTS):
        with translated():
            reader: IO[bytes] = storage.open_read(res.storage_path)
        try:
            with translated():
                entry = storage.stat(res.storage_path)
                digests = storage.digests(res.storage_path)
                again = storage.stat(res.storage_path)
        except BaseException:
            reader.close()
            raise
        if again.etag == entry.etag and _reader_is(reader, entry):
            res.entry = entry
            return reader, entry, digests
        reader.close()
        time.sleep(0.002 * attempt)  # let the competing commit finish
    raise DAVError(HTTP_SERVICE_UNAVAILABLE, context_info="the file is being replaced; retry")


def serve_file(
    environ: Environ, start_response: StartResponse, res: FileResource
) -> Iterator[bytes] | list[bytes]:
    """Answer GET or HEAD for ``res``. Raises DAVError for a request body on GET (400)."""
    method = environ["REQUEST_METHOD"].upper()
    if environ.get("CONTENT_LENGTH", "0") not in ("", "0"):
        raise DAVError(HTTP_BAD_REQUEST, context_info="GET/HEAD must not carry a body")
    reader, entry, digests = _snapshot(res)
    try:
        return _respond(environ, start_response, res, method, reader, entry, digests)
    except BaseException:
        reader.close()
        raise


def _respond(
    environ: Environ,
    start_response: StartResponse,
    res: FileResource,
    method: str,
    reader: IO[bytes],
    entry: Entry,
    digests: Digests,
) -> Iterator[bytes] | list[bytes]:
    headers = _fold_gzip_tags(request_headers(environ), entry.etag)
    mtime_s = entry.mtime_ns // 1_000_000_000
    outcome = conditional.evaluate(method, headers, entry.etag, mtime_s, time.time())
    validators = [
        ("ETag", f'"{entry.etag}"'),
        ("Last-Modified", conditional.http_date(mtime_s)),
    ]
    if outcome.status is not None:
        status = outcome.status
        extra = [] if status == 304 else [("Content-Length", "0")]
        start_response(f"{status} {_REASONS[status]}", [*validators, *extra])
        reader.close()
        return [b""]

    content_type = res.get_content_type()
    common = [
        *validators,
        ("Accept-Ranges", "bytes"),
        ("OC-Checksum", oc_checksum_header(digests)),
        ("OC-FileId", res.oc_id),
        ("Cache-Control", "no-cache"),
    ]
    repr_digest = repr_digest_header(digests, headers.get("want-repr-digest"))
    if repr_digest:
        common.append(("Repr-Digest", repr_digest))

    size = entry.size
    range_header = headers.get("range") if method in ("GET", "HEAD") else None
    if range_header is not None and not conditional.if_range_allows(
        headers.get("if-range"), entry.etag, mtime_s
    ):
        range_header = None
    parsed = ranges.parse_range(range_header, size)
    if parsed.kind is ranges.RangeKind.UNSATISFIABLE:
        start_response(
            "416 Range Not Satisfiable",
            [
                *common,
                ("Content-Range", ranges.unsatisfiable_content_range(size)),
                ("Content-Length", "0"),
            ],
        )
        reader.close()
        return [b""]

    if parsed.kind is ranges.RangeKind.SATISFIABLE:
        return _partial(method, start_response, reader, parsed, size, content_type, common)

    if method == "GET" and encoding.should_gzip(headers.get("accept-encoding"), content_type, size):
        gz_tag = f'"{entry.etag}{GZIP_TAG_SUFFIX}"'
        start_streamed(
            environ,
            start_response,
            "200 OK",
            [
                *[(k, gz_tag if k == "ETag" else v) for k, v in common],
                ("Content-Type", content_type),
                ("Content-Encoding", "gzip"),
                ("Vary", "Accept-Encoding"),
            ],
        )
        body = encoding.gzip_stream(_slice(reader, 0, size - 1))
        return _closing(reader, body)

    start_response(
        "200 OK",
        [
            *common,
            ("Content-Type", content_type),
            ("Content-Length", str(size)),
            ("Vary", "Accept-Encoding"),
        ],
    )
    if method == "HEAD" or size == 0:
        reader.close()
        return [b""]
    return _closing(reader, _file_body(environ, reader, size))


def _file_body(environ: Environ, reader: IO[bytes], size: int) -> Iterator[bytes]:
    """The whole file: copied by the server with ``sendfile`` when it offers that
    (``davserver.http.sendfile``), else read and yielded in blocks."""
    job = offer_sendfile(environ, reader, 0, size)
    if job is not None:
        try:
            yield b""  # the server sends the file when this chunk reaches it
        finally:
            job.offered = False
        if job.taken:
            return
    yield from _slice(reader, 0, size - 1)


def _partial(
    method: str,
    start_response: StartResponse,
    reader: IO[bytes],
    parsed: ranges.RangeResult,
    size: int,
    content_type: str,
    common: list[tuple[str, str]],
) -> Iterator[bytes] | list[bytes]:
    if not parsed.is_multipart:
        start, end = parsed.ranges[0]
        start_response(
            "206 Partial Content",
            [
                *common,
                ("Content-Type", content_type),
                ("Content-Range", ranges.content_range(start, end, size)),
                ("Content-Length", str(end - start + 1)),
            ],
        )
        if method == "HEAD":
            reader.close()
            return [b""]
        return _closing(reader, _slice(reader, start, end))
    plan = ranges.multipart_byteranges(parsed.ranges, size, content_type, ranges.new_boundary())
    start_response(
        "206 Partial Content",
        [
            *common,
            ("Content-Type", plan.content_type),
            ("Content-Length", str(plan.content_length)),
        ],
    )
    if method == "HEAD":
        reader.close()
        return [b""]
    body = ranges.stream_multipart(plan.parts, lambda s, e: _slice(reader, s, e))
    return _closing(reader, body)
