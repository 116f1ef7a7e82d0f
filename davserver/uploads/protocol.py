"""Pure protocol rules of resumable uploads: no I/O, no clock, no HTTP framework.

Nextcloud chunking
    A session collects chunks under client-chosen names. Version 1 names are either byte
    ranges ``<start>-<end>`` (decimal, ``end`` inclusive; rclone sends ``%015d-%015d``) or
    plain decimal numbers; version 2 names (sessions created with a ``Destination``) are the
    numbers 1 to 10000. Chunks are assembled in natural order (PHP ``strnatcmp``: digit runs
    compare as numbers), so ``2`` comes before ``10`` and zero-padded offsets sort by value.
    Range-named chunks are checked: the body must be exactly the range, ranges of different
    chunks must not overlap, and at assembly they must cover ``0..total-1`` without a gap.

tus 1.0.0
    Header parsers for ``Tus-Resumable``, ``Upload-Length``, ``Upload-Offset``,
    ``Upload-Metadata`` and ``Upload-Checksum``.

Every parser raises ``ProtocolError`` (or a subclass) naming the header or chunk and the
problem; overlap is ``ChunkOverlapError`` and a wrong tus version ``TusVersionError``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol, TypeVar

from davserver.uploads.errors import (
    AssemblyError,
    ChunkOverlapError,
    InvalidChunkError,
    ProtocolError,
    TusVersionError,
)
from providers.hashing import normalize_algorithm

MAX_V2_CHUNK_NUMBER = 10_000
MAX_DIGITS = 18  # keeps every number below 2**63
MAX_MTIME_S = 2**33

_RANGE_NAME = re.compile(r"([0-9]{1,18})-([0-9]{1,18})", re.ASCII)
_NUMBER_NAME = re.compile(r"[0-9]{1,18}", re.ASCII)
_DIGIT_RUNS = re.compile(r"([0-9]+)", re.ASCII)
_INTEGER = re.compile(r"[0-9]{1,18}", re.ASCII)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "creation-with-upload", "termination", "checksum", "expiration")
TUS_CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
TUS_CONTENT_TYPE = "application/offset+octet-stream"
_DIGEST_BYTES = {"md5": 16, "sha1": 20, "sha256": 32}


# --------------------------------------------------------------------------- chunk names


@dataclass(frozen=True, slots=True)
class ChunkName:
    """A parsed chunk name: a byte range (``start``/``end`` inclusive) or an ordinal."""

    text: str
    start: int | None = None
    end: int | None = None

    @property
    def is_range(self) -> bool:
        """True for ``<start>-<end>`` names."""
        return self.start is not None

    @property
    def size(self) -> int | None:
        """The number of bytes the range names (None for ordinals)."""
        if self.start is None or self.end is None:
            return None
        return self.end - self.start + 1


def parse_chunk_name(name: str, *, numbered: bool) -> ChunkName:
    """Parse a chunk name of a version-1 session, or of a version-2 session if ``numbered``.

    Raises InvalidChunkError for anything else: version 2 accepts only 1..10000; version 1
    accepts ``<start>-<end>`` with ``start <= end`` or a plain number.
    """
    if numbered:
        if _NUMBER_NAME.fullmatch(name) and 1 <= int(name) <= MAX_V2_CHUNK_NUMBER:
            return ChunkName(name)
        raise InvalidChunkError(
            f"chunk name {name!r}: chunks of a session with a Destination are numbered "
            f"1 to {MAX_V2_CHUNK_NUMBER}"
        )
    match = _RANGE_NAME.fullmatch(name)
    if match:
        start, end = int(match.group(1)), int(match.group(2))
        if end < start:
            raise InvalidChunkError(f"chunk name {name!r}: end offset lies before start offset")
        return ChunkName(name, start, end)
    if _NUMBER_NAME.fullmatch(name):
        return ChunkName(name)
    raise InvalidChunkError(
        f"chunk name {name!r}: expected <start>-<end> byte offsets (end inclusive) or a number"
    )


def range_name(start: int, end: int) -> str:
    """The canonical range name of bytes ``start..end`` (inclusive), as rclone writes it."""
    return f"{start:015d}-{end:015d}"


def natural_key(name: str) -> tuple[tuple[int | str, ...], str]:
    """Sort key ordering names like PHP ``strnatcmp``: digit runs compare by value.

    Ties between names whose digit runs have equal values (``01`` and ``1``) are broken by
    the plain string, so the order is total and deterministic.
    """
    parts = _DIGIT_RUNS.split(name)
    key = tuple(int(p) if i % 2 else p for i, p in enumerate(parts))
    return key, name


class ChunkLike(Protocol):
    """What the range checks need to know about a stored chunk."""

    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def start(self) -> int | None: ...
    @property
    def end(self) -> int | None: ...


C = TypeVar("C", bound=ChunkLike)


def check_body_length(chunk: ChunkName, length: int | None) -> None:
    """A range-named chunk's body must be exactly its range. InvalidChunkError otherwise."""
    size = chunk.size
    if size is not None and length is not None and length != size:
        raise InvalidChunkError(
            f"chunk {chunk.text!r} names {size} bytes but the request carries {length}"
        )


def check_total(chunk: ChunkName, total: int | None) -> None:
    """A range must lie inside ``0..total-1`` when the total is known. InvalidChunkError."""
    if total is not None and chunk.end is not None and chunk.end >= total:
        raise InvalidChunkError(
            f"chunk {chunk.text!r} ends at byte {chunk.end}, outside the announced "
            f"total of {total} bytes"
        )


def check_new_chunk(chunk: ChunkName, existing: Iterable[ChunkLike], total: int | None) -> None:
    """May ``chunk`` join the ``existing`` chunks of a session? Re-sending a name replaces it.

    Raises InvalidChunkError if the session mixes range names and ordinals or the range lies
    outside ``total``; ChunkOverlapError if the range overlaps another chunk's range.
    """
    check_total(chunk, total)
    for other in existing:
        if other.name == chunk.text:
            continue
        if (other.start is not None) != chunk.is_range:
            raise InvalidChunkError(
                f"chunk {chunk.text!r}: a session uses either byte-range names or numbers, "
                f"not both ({other.name!r} is already there)"
            )
        if chunk.start is None or chunk.end is None or other.start is None or other.end is None:
            continue
        if chunk.start <= other.end and other.start <= chunk.end:
            raise ChunkOverlapError(
                f"chunk {chunk.text!r} overlaps chunk {other.name!r} already received"
            )


def plan_assembly(chunks: Sequence[C], total: int | None) -> list[C]:
    """The chunks in assembly order, after checking they form one file of ``total`` bytes.

    Range-named chunks must cover ``0..end`` contiguously. Raises AssemblyError naming the
    first gap or overlap, or the total the chunks really add up to.
    """
    ordered = sorted(chunks, key=lambda c: natural_key(c.name))
    position = 0
    for chunk in ordered:
        if chunk.start is None or chunk.end is None:
            position += chunk.size
            continue
        if chunk.start > position:
            raise AssemblyError(
                f"bytes {position}-{chunk.start - 1} are missing (no chunk covers them)"
            )
        if chunk.start < position:
            raise AssemblyError(f"chunk {chunk.name!r} overlaps the chunk before it")
        if chunk.size != chunk.end - chunk.start + 1:
            raise AssemblyError(f"chunk {chunk.name!r} does not hold the bytes its name says")
        position = chunk.end + 1
    if total is not None and total != position:
        raise AssemblyError(f"chunks on server do not sum up to {total} but to {position} bytes")
    return ordered


def contiguous_end(chunks: Iterable[ChunkLike]) -> int:
    """How many bytes from offset 0 on the range-named ``chunks`` cover without a gap."""
    position = 0
    for chunk in sorted(chunks, key=lambda c: c.start or 0):
        if chunk.start is None or chunk.end is None or chunk.start != position:
            break
        position = chunk.end + 1
    return position


# --------------------------------------------------------------------------- headers


def parse_count(value: str, header: str) -> int:
    """A non-negative decimal integer header (``Upload-Length``, ``OC-Total-Length``, ...).

    Raises ProtocolError naming ``header``.
    """
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        raise ProtocolError(f"{header}: expected a non-negative integer, got {value!r}")
    return int(text)


def parse_mtime_ns(value: str, header: str) -> int:
    """Unix seconds (fractions allowed) as nanoseconds. ProtocolError naming ``header``."""
    try:
        seconds = float(value.strip())
    except ValueError as exc:
        raise ProtocolError(f"{header}: expected unix seconds, got {value!r}") from exc
    if not 0 <= seconds < MAX_MTIME_S:
        raise ProtocolError(f"{header}: time out of range: {value!r}")
    return int(seconds * 1_000_000_000)


def check_tus_resumable(value: str | None) -> None:
    """Require ``Tus-Resumable: 1.0.0``. TusVersionError if missing or another version."""
    if value is None:
        raise TusVersionError("the Tus-Resumable header is required")
    if value.strip() != TUS_VERSION:
        raise TusVersionError(f"Tus-Resumable {value.strip()!r} is not supported")


def parse_upload_metadata(value: str) -> dict[str, bytes]:
    """Parse ``Upload-Metadata``: comma-separated ``key base64value`` (or bare ``key``) pairs.

    Raises ProtocolError for an empty or repeated key, a key with blanks or invalid base64.
    """
    result: dict[str, bytes] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        encoded = encoded.strip()
        if not key or any(c.isspace() for c in key) or " " in encoded:
            raise ProtocolError(f"Upload-Metadata: malformed pair {item!r}")
        if key in result:
            raise ProtocolError(f"Upload-Metadata: key {key!r} given twice")
        try:
            result[key] = base64.b64decode(encoded, validate=True) if encoded else b""
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"Upload-Metadata: value of {key!r} is not base64") from exc
    return result


def metadata_text(metadata: dict[str, bytes], key: str) -> str | None:
    """The UTF-8 text of metadata ``key`` (None if absent). ProtocolError if not UTF-8."""
    raw = metadata.get(key)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"Upload-Metadata: {key!r} is not UTF-8 text") from exc


def encode_upload_metadata(metadata: dict[str, bytes]) -> str:
    """The ``Upload-Metadata`` form of ``metadata`` (inverse of ``parse_upload_metadata``)."""
    return ",".join(
        f"{key} {base64.b64encode(value).decode('ascii')}" if value else key
        for key, value in metadata.items()
    )


def parse_upload_checksum(value: str) -> tuple[str, str]:
    """Parse ``Upload-Checksum: <algorithm> <base64>`` into (md5|sha1|sha256, lower-case hex).

    Raises ProtocolError for an unsupported algorithm, invalid base64 or a wrong length.
    """
    algorithm, _, encoded = value.strip().partition(" ")
    name = normalize_algorithm(algorithm)
    if name not in TUS_CHECKSUM_ALGORITHMS:
        raise ProtocolError(f"Upload-Checksum: unsupported algorithm {algorithm!r}")
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("Upload-Checksum: the digest is not base64") from exc
    if len(raw) != _DIGEST_BYTES[name]:
        raise ProtocolError(f"Upload-Checksum: a {name} digest has {_DIGEST_BYTES[name]} bytes")
    return name, raw.hex()


def http_date(timestamp: float) -> str:
    """An RFC 9110 IMF-fixdate (``Upload-Expires``)."""
    return formatdate(timestamp, usegmt=True)
