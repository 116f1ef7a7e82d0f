"""A request body in chunked transfer coding, read with bounded memory.

cheroot's ``ChunkedRFile`` reads a whole chunk into memory before it returns any of it, and
reads the chunk-size line without a length limit: an authenticated client announcing one
chunk of 400 MiB (or sending a chunk-size line that never ends) grew the server by 400 MB,
whatever size the application asked for. It also leaves the trailer section unread, so a
trailer line was parsed as the next request on the connection.

``BoundedChunkedBody`` has the same interface but

- returns at most what was asked for, read straight from the connection (never more than
  the rest of the current chunk): memory is bounded by the caller's read size;
- refuses a chunk-size line (with its extensions) longer than ``MAX_LINE_BYTES`` and a
  malformed one (``ValueError``, which the request handling turns into 400);
- reads the trailer section after the last chunk (at most ``MAX_TRAILERS`` lines of at most
  ``MAX_LINE_BYTES`` each) and ignores it.

``closed`` is True once the last chunk and the trailers have been read (the body was read
to its end).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from cheroot import errors

MAX_LINE_BYTES = 4096
MAX_TRAILERS = 64
_CRLF = b"\r\n"
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class BoundedChunkedBody:
    """``wsgi.input`` for a chunked request body (see the module docstring).

    ``rfile`` is the connection's reader; ``maxlen`` the largest body accepted (0: any), as
    cheroot's ``max_request_body_size``.
    """

    def __init__(self, rfile: Any, maxlen: int = 0) -> None:
        self.rfile = rfile
        self.maxlen = maxlen
        self.bytes_read = 0
        self.closed = False
        self._left = 0  # bytes of the current chunk not read yet

    # --- framing ---------------------------------------------------------------------------

    def _line(self) -> bytes:
        line: bytes = self.rfile.readline(MAX_LINE_BYTES + 1)
        if not line:
            raise ValueError("the chunked body ended early")
        if len(line) > MAX_LINE_BYTES or not line.endswith(_CRLF):
            raise ValueError("chunked body: line too long or not ended by CRLF")
        self.bytes_read += len(line)
        return line

    def _next_chunk(self) -> None:
        """Read the next chunk-size line (and the trailers after the last chunk)."""
        size_text = self._line()[:-2].split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise ValueError(f"Bad chunked transfer size: {size_text[:32]!r}")
        size = int(size_text, 16)
        if self.maxlen and self.bytes_read + size > self.maxlen:
            raise errors.MaxSizeExceeded("Request Entity Too Large", self.maxlen)
        if size == 0:
            self._skip_trailers()
            self.closed = True
            return
        self._left = size

    def _skip_trailers(self) -> None:
        for _ in range(MAX_TRAILERS + 1):
            if self._line() == _CRLF:
                return
        raise ValueError(f"more than {MAX_TRAILERS} trailer fields")

    def _end_of_chunk(self) -> None:
        if self.rfile.read(2) != _CRLF:
            raise ValueError("Bad chunked transfer coding (expected CRLF after a chunk)")
        self.bytes_read += 2

    def _take(self, size: int) -> bytes:
        """Up to ``size`` (> 0) bytes of the current chunk (empty at the end of the body)."""
        if self.closed:
            return b""
        if self._left == 0:
            self._next_chunk()
            if self.closed:
                return b""
        data: bytes = self.rfile.read(min(size, self._left))
        if not data:
            raise ValueError("the chunked body ended early")
        self._left -= len(data)
        self.bytes_read += len(data)
        if self._left == 0:
            self._end_of_chunk()
        return data

    # --- file interface --------------------------------------------------------------------

    def read(self, size: int | None = None) -> bytes:
        """``size`` bytes (fewer at the end of the body); all the rest if ``size`` is None or
        negative."""
        if size is not None and size >= 0:
            parts: list[bytes] = []
            want = size
            while want > 0 and (data := self._take(want)):
                parts.append(data)
                want -= len(data)
            return b"".join(parts)
        rest: list[bytes] = []
        while data := self._take(1 << 16):
            rest.append(data)
        return b"".join(rest)

    def readline(self, size: int | None = None) -> bytes:
        """One line (up to ``size`` bytes), read one buffered piece at a time."""
        parts: list[bytes] = []
        got = 0
        while size is None or size < 0 or got < size:
            room = 8192 if size is None or size < 0 else min(8192, size - got)
            if self.closed:
                break
            if self._left == 0:
                self._next_chunk()
                continue
            peek = getattr(self.rfile, "peek", None)
            window = peek(1)[: min(room, self._left)] if peek is not None else b""
            end = window.find(b"\n")
            take = end + 1 if end >= 0 else max(1, len(window))
            data = self._take(min(take, room))
            parts.append(data)
            got += len(data)
            if data.endswith(b"\n"):
                break
        return b"".join(parts)

    def readlines(self, sizehint: int = 0) -> list[bytes]:
        """Every line of the body (stops once ``sizehint`` bytes were read, if given)."""
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < sizehint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def read_trailer_lines(self) -> Iterator[bytes]:
        """cheroot's interface; the trailers were already read and dropped."""
        if not self.closed:
            raise ValueError("Cannot read trailers until the request body has been read.")
        yield from ()

    def close(self) -> None:
        """Close the connection's reader (as cheroot's ``ChunkedRFile`` does)."""
        self.rfile.close()
