"""Byte-range requests (RFC 9110 sections 14.1 to 14.4 and 14.6).

``parse_range`` turns a Range field value into one of three results:

* IGNORE: no Range field, a unit other than ``bytes``, a syntactically invalid range set
  (including an int-range whose last position is before its first), or more than
  ``MAX_RANGES`` range specs. The server sends the whole representation with 200, as RFC
  9110 14.2 allows ("MAY ignore or reject").
* UNSATISFIABLE: a valid range set none of whose specs is satisfiable; the server answers
  416 with ``Content-Range: bytes */<size>`` (``unsatisfiable_content_range``).
* SATISFIABLE: the satisfiable ranges as inclusive ``(start, end)`` pairs inside
  ``[0, size - 1]``; unsatisfiable specs are dropped.

Empty representations follow RFC 9110 14.1.1: with size 0 the only satisfiable form is a
suffix range with a non-zero length, and it selects the whole (empty) representation, which
a 206 Content-Range cannot express. Such a request is therefore answered like IGNORE (200
with the empty body); every other valid range set on an empty representation is
UNSATISFIABLE (416).

Coalescing (RFC 9110 14.2 and 15.3.7.2): overlapping or adjacent ranges are merged, which
also defeats requests that repeat the same range to multiply the response. Ranges that do
not touch keep the client's order; a merged range takes the position of its earliest
member. Numbers with more than 19 significant digits saturate at 10**19, beyond any
representation size.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

MAX_RANGES = 100
"""Range sets with more specs than this are ignored (whole representation, 200)."""

_SATURATED = 10**19
_SPEC = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
_BOUNDARY = re.compile(r"[0-9A-Za-z'+_.\-]{1,70}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CRLF = b"\r\n"

# A parsed range spec: (first, last) for an int-range (last None when open),
# (None, length) for a suffix range.
_Spec = tuple[int | None, int | None]


class RangeKind(enum.Enum):
    """How a Range field is to be answered."""

    IGNORE = "ignore"
    UNSATISFIABLE = "unsatisfiable"
    SATISFIABLE = "satisfiable"


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Outcome of ``parse_range``: the kind and, when SATISFIABLE, the inclusive ranges."""

    kind: RangeKind
    ranges: tuple[tuple[int, int], ...] = ()

    @property
    def is_multipart(self) -> bool:
        """True when the answer needs a multipart/byteranges body (several ranges)."""
        return len(self.ranges) > 1


_IGNORE = RangeResult(RangeKind.IGNORE)
_UNSATISFIABLE = RangeResult(RangeKind.UNSATISFIABLE)


def parse_range(header: str | None, size: int) -> RangeResult:
    """Evaluate the Range field ``header`` against a representation of ``size`` bytes.

    See the module documentation for the three outcomes. Never raises on any header text;
    raises ValueError only when ``size`` is negative.
    """
    if size < 0:
        raise ValueError(f"negative size: {size}")
    if header is None:
        return _IGNORE
    specs = _parse_specs(header)
    if specs is None:
        return _IGNORE
    if size == 0:
        has_suffix = any(first is None and last != 0 for first, last in specs)
        return _IGNORE if has_suffix else _UNSATISFIABLE
    resolved = [r for spec in specs if (r := _resolve(spec, size)) is not None]
    if not resolved:
        return _UNSATISFIABLE
    return RangeResult(RangeKind.SATISFIABLE, _coalesce(resolved))


def _parse_specs(header: str) -> list[_Spec] | None:
    """The range specs of a ``bytes`` range set, or None when the field is to be ignored."""
    unit, sep, range_set = header.partition("=")
    if not sep or unit.strip(" \t").lower() != "bytes":
        return None
    specs: list[_Spec] = []
    for member in range_set.split(","):
        member = member.strip(" \t")
        if not member:
            continue
        spec = _parse_spec(member)
        if spec is None or len(specs) >= MAX_RANGES:
            return None
        specs.append(spec)
    return specs or None


def _parse_spec(member: str) -> _Spec | None:
    match = _SPEC.fullmatch(member)
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        return (None, _number(last)) if last else None
    first_pos = _number(first)
    last_pos = _number(last) if last else None
    if last_pos is not None and last_pos < first_pos:
        return None
    return (first_pos, last_pos)


def _number(digits: str) -> int:
    significant = digits.lstrip("0")
    if len(significant) > 19:
        return _SATURATED
    return int(significant or "0")


def _resolve(spec: _Spec, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``spec`` selects, or None when it is unsatisfiable."""
    first, last = spec
    if first is None:
        length = last or 0
        return (max(0, size - length), size - 1) if length > 0 else None
    if first >= size:
        return None
    return (first, size - 1 if last is None else min(last, size - 1))


def _coalesce(ranges: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Merge overlapping or adjacent ranges, keeping first-appearance order."""
    merged: list[list[int]] = []  # [start, end, index of earliest member]
    for index in sorted(range(len(ranges)), key=lambda i: ranges[i]):
        start, end = ranges[index]
        if merged and start <= merged[-1][1] + 1:
            last = merged[-1]
            last[1] = max(last[1], end)
            last[2] = min(last[2], index)
        else:
            merged.append([start, end, index])
    merged.sort(key=lambda item: item[2])
    return tuple((start, end) for start, end, _ in merged)


def content_range(start: int, end: int, size: int) -> str:
    """The Content-Range value for inclusive ``start``-``end`` of ``size`` bytes.

    Raises ValueError unless ``0 <= start <= end < size``.
    """
    _check_range(start, end, size)
    return f"bytes {start}-{end}/{size}"


def unsatisfiable_content_range(size: int) -> str:
    """The Content-Range value of a 416 response: ``bytes */<size>``."""
    return f"bytes */{size}"


def _check_range(start: int, end: int, size: int) -> None:
    if not 0 <= start <= end < size:
        raise ValueError(f"range {start}-{end} is not inside a representation of {size} bytes")


def new_boundary() -> str:
    """A fresh random multipart boundary (32 hex digits)."""
    return secrets.token_hex(16)


class Part(NamedTuple):
    """One piece of a multipart/byteranges body: ``header`` bytes, then bytes start..end.

    ``end`` is inclusive. The last part of a plan carries only the closing delimiter and an
    empty slice (``start`` 0, ``end`` -1, ``length`` 0).
    """

    header: bytes
    start: int
    end: int

    @property
    def length(self) -> int:
        """Number of representation bytes that follow ``header``."""
        return self.end - self.start + 1


class MultipartPlan(NamedTuple):
    """A multipart/byteranges body laid out before sending.

    ``content_type`` is the response Content-Type value; ``content_length`` is the exact
    body length; ``parts`` lists the data parts in order, then the closing delimiter.
    """

    content_type: str
    content_length: int
    parts: tuple[Part, ...]


def multipart_byteranges(
    ranges: Sequence[tuple[int, int]], size: int, content_type: str | None, boundary: str
) -> MultipartPlan:
    """Lay out a multipart/byteranges body (RFC 9110 14.6) for inclusive ``ranges``.

    Every part header names ``content_type`` (omitted when None or empty) and its
    Content-Range. The body is the concatenation, for each part, of its header and the
    representation bytes ``start..end``; the final part is the closing delimiter. Raises
    ValueError when ``ranges`` is empty or has a range outside ``[0, size - 1]``, when
    ``boundary`` is not 1 to 70 characters from ``[0-9A-Za-z'+_.-]``, or when
    ``content_type`` contains control characters or is not Latin-1.
    """
    if not ranges:
        raise ValueError("a multipart/byteranges body needs at least one range")
    if _BOUNDARY.fullmatch(boundary) is None:
        raise ValueError(f"invalid multipart boundary: {boundary!r}")
    type_line = _content_type_line(content_type)
    delimiter = b"--" + boundary.encode("ascii")
    parts: list[Part] = []
    for index, (start, end) in enumerate(ranges):
        _check_range(start, end, size)
        lead = b"" if index == 0 else _CRLF
        range_line = f"Content-Range: {content_range(start, end, size)}\r\n".encode("ascii")
        header = lead + delimiter + _CRLF + type_line + range_line + _CRLF
        parts.append(Part(header, start, end))
    parts.append(Part(_CRLF + delimiter + b"--" + _CRLF, 0, -1))
    length = sum(len(part.header) + part.length for part in parts)
    return MultipartPlan(f"multipart/byteranges; boundary={boundary}", length, tuple(parts))


def _content_type_line(content_type: str | None) -> bytes:
    if not content_type:
        return b""
    if _CONTROL.search(content_type):
        raise ValueError(f"control character in content type: {content_type!r}")
    try:
        return f"Content-Type: {content_type}\r\n".encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"content type is not Latin-1: {content_type!r}") from exc


def stream_multipart(
    parts: Iterable[Part], read: Callable[[int, int], Iterable[bytes]]
) -> Iterator[bytes]:
    """Yield a multipart body: each part's header, then ``read(start, end)`` for its bytes.

    ``read`` receives inclusive offsets and is not called for the empty closing part.
    Exceptions from ``read`` propagate.
    """
    for part in parts:
        yield part.header
        if part.length > 0:
            yield from read(part.start, part.end)
