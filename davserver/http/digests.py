"""Integrity fields: parsing what clients send, formatting what the server sends.

Parsed digests are returned as ``{algorithm: value}`` with the algorithm normalized by
``providers.hashing.normalize_algorithm`` (``SHA-256`` -> ``sha256``, ``sha`` -> ``sha1``)
and, for algorithms whose output is a byte string, the value as lower-case hex.

Fields understood:

* ``OC-Checksum`` (ownCloud/Nextcloud): ``SHA1:<hex> MD5:<hex>``; tokens separated by
  whitespace or commas.
* ``Content-Digest`` and ``Repr-Digest`` (RFC 9530): a Structured Field Dictionary of Byte
  Sequences, ``sha-256=:<base64>:``.
* ``Digest`` (RFC 3230, obsolete): ``SHA-256=<base64>, MD5=<base64>``.
* ``Content-MD5`` (RFC 1864, obsolete): ``<base64>``.

Leniency: in ``Digest`` and ``Content-MD5`` an MD5/SHA value may also be given in hex (the
lengths of the hex and base64 forms never coincide, so this is unambiguous), and missing
base64 ``=`` padding is tolerated everywhere, as RFC 8941 recommends for byte sequences.

Every parser raises ``DigestHeaderError`` (a ValueError) naming the field and the reason when
a value is malformed, including a digest of the wrong length for its algorithm; the server
answers 400. Values of algorithms this module does not know are kept as given (byte
sequences as hex), so callers can ignore them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping

from davserver.errors import DavserverError
from davserver.http._headers import get_header
from davserver.http._structured import StructuredFieldError, parse_dictionary
from providers.hashing import ALGORITHMS, Digests, normalize_algorithm

_DIGEST_SIZES = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}
"""Output size in bytes of the byte-string digests whose length is checked."""

_HEX_CHECKSUMS = {"adler32": 8, "crc32c": 8}
"""Checksums written in hex in OC-Checksum and Digest, with their length in hex digits."""

_HEX = re.compile(r"[0-9a-fA-F]+", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)

_WANT_NAMES = {"sha256": "sha-256", "sha1": "sha", "md5": "md5"}
"""Digests the server can send in Repr-Digest, strongest first, with their RFC 9530 keys."""

DEFAULT_REPR_ALGORITHM = "sha256"
"""Algorithm sent in Repr-Digest when the client states no usable preference."""


class DigestHeaderError(DavserverError, ValueError):
    """A digest field is malformed, or two fields disagree on the same algorithm."""


def parse_oc_checksum(value: str, field: str = "OC-Checksum") -> dict[str, str]:
    """Parse ``ALGORITHM:hexvalue`` tokens, e.g. ``SHA1:abc... MD5:def...``.

    Algorithms are case-insensitive; values of md5, sha1, sha256, sha512, adler32 and crc32c
    must be hex of the right length and are returned in lower case. A blank value gives {}.
    Raises DigestHeaderError for a token that is not ``ALGORITHM:VALUE``, a bad hex value, or
    one algorithm given twice with different values. ``field`` names the field in messages.
    """
    result: dict[str, str] = {}
    for token in re.split(r"[\s,]+", value.strip()):
        if not token:
            continue
        algorithm, sep, digest = token.partition(":")
        if not sep or not algorithm or not digest:
            raise DigestHeaderError(f"{field}: token {token!r} is not ALGORITHM:VALUE")
        name = normalize_algorithm(algorithm)
        _store(result, name, _decode_hex_only(name, digest, field), field)
    return result


def parse_digest_fields(value: str, field: str = "Content-Digest") -> dict[str, str]:
    """Parse an RFC 9530 Content-Digest / Repr-Digest value, e.g. ``sha-256=:<base64>:``.

    Returns algorithm -> lower-case hex of the byte sequence; parameters are ignored. Raises
    DigestHeaderError when the value is not a Structured Field Dictionary, when a member is
    not a Byte Sequence, or when a digest has the wrong length for its algorithm.
    """
    try:
        members = parse_dictionary(value)
    except StructuredFieldError as exc:
        raise DigestHeaderError(f"{field}: not a structured dictionary ({exc})") from exc
    result: dict[str, str] = {}
    for key, (item, _params) in members.items():
        if not isinstance(item, bytes):
            raise DigestHeaderError(f"{field}: value of {key!r} is not a byte sequence")
        name = normalize_algorithm(key)
        _check_size(name, item, field)
        result[name] = item.hex()
    return result


def parse_legacy_digest(value: str, field: str = "Digest") -> dict[str, str]:
    """Parse an RFC 3230 Digest value, e.g. ``SHA-256=<base64>, MD5=<base64>``.

    md5, sha1 (``SHA``), sha256 and sha512 are base64 (or hex) and returned as hex; adler32
    and crc32c are hex; other algorithms (``UNIXsum`` ...) are kept as given. Raises
    DigestHeaderError for a member that is not ``algorithm=value``, a value that does not
    decode to the algorithm's size, or one algorithm given twice with different values.
    """
    result: dict[str, str] = {}
    for member in value.split(","):
        member = member.strip()
        if not member:
            continue
        algorithm, sep, encoded = member.partition("=")
        algorithm, encoded = algorithm.strip(), encoded.strip()
        if not sep or not algorithm or not encoded:
            raise DigestHeaderError(f"{field}: member {member!r} is not ALGORITHM=VALUE")
        name = normalize_algorithm(algorithm)
        _store(result, name, _decode_legacy(name, encoded, field), field)
    return result


def parse_content_md5(value: str, field: str = "Content-MD5") -> dict[str, str]:
    """Parse a Content-MD5 value (base64, or hex) into ``{"md5": hex}``.

    Raises DigestHeaderError when it is not 16 bytes in either encoding.
    """
    return {"md5": _decode_binary("md5", value.strip(), field)}


_SOURCES: tuple[tuple[str, Callable[[str, str], dict[str, str]]], ...] = (
    ("OC-Checksum", parse_oc_checksum),
    ("Content-Digest", parse_digest_fields),
    ("Repr-Digest", parse_digest_fields),
    ("Digest", parse_legacy_digest),
    ("Content-MD5", parse_content_md5),
)


def expected_digests_from_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The digests a request announces for its content, restricted to md5, sha1, sha256.

    Reads OC-Checksum, Content-Digest, Repr-Digest, Digest and Content-MD5 (looked up
    case-insensitively) and merges them into ``{algorithm: hex}``. Content-Digest covers the
    message content and Repr-Digest the representation, so both describe the stored bytes
    only for a request whose content is the whole representation without a content coding;
    checking that is the caller's job. Raises DigestHeaderError when a field is malformed or
    two fields disagree on one algorithm.
    """
    result: dict[str, str] = {}
    origin: dict[str, str] = {}
    for field, parser in _SOURCES:
        value = get_header(headers, field)
        if value is None:
            continue
        for name, digest in parser(value, field).items():
            if name not in ALGORITHMS:
                continue
            if name in result and result[name] != digest:
                raise DigestHeaderError(f"{field}: {name} digest disagrees with {origin[name]}")
            result[name] = digest
            origin[name] = field
    return result


def repr_digest_header(digests: Digests, want: str | None) -> str | None:
    """The Repr-Digest value to send for ``digests``, honouring Want-Repr-Digest ``want``.

    Returns e.g. ``sha-256=:<base64>:`` (the value only, without the field name). With no
    ``want`` (None or blank) or a malformed one, sends sha-256. Otherwise sends the
    algorithm with the highest non-zero preference among sha-256, sha (SHA-1) and md5, the
    stronger one on a tie; returns None when none of them is acceptable. Never raises.
    """
    algorithm = _wanted_algorithm(want)
    if algorithm is None:
        return None
    encoded = base64.b64encode(bytes.fromhex(digests.get(algorithm))).decode("ascii")
    return f"{_WANT_NAMES[algorithm]}=:{encoded}:"


def oc_checksum_header(digests: Digests) -> str:
    """The OC-Checksum value the server sends: ``SHA1:<hex>``."""
    return f"SHA1:{digests.sha1}"


def _wanted_algorithm(want: str | None) -> str | None:
    if want is None or not want.strip():
        return DEFAULT_REPR_ALGORITHM
    try:
        members = parse_dictionary(want)
    except StructuredFieldError:
        return DEFAULT_REPR_ALGORITHM
    preferences: dict[str, int] = {}
    for key, (weight, _params) in members.items():
        if type(weight) is not int or not 0 <= weight <= 10:
            return DEFAULT_REPR_ALGORITHM
        preferences[normalize_algorithm(key)] = weight
    best, best_weight = None, 0
    for name in _WANT_NAMES:
        weight = preferences.get(name, 0)
        if weight > best_weight:
            best, best_weight = name, weight
    return best


def _store(result: dict[str, str], name: str, digest: str, field: str) -> None:
    if result.get(name, digest) != digest:
        raise DigestHeaderError(f"{field}: {name} given twice with different values")
    result[name] = digest


def _check_size(name: str, raw: bytes, field: str) -> None:
    size = _DIGEST_SIZES.get(name)
    if size is not None and len(raw) != size:
        raise DigestHeaderError(f"{field}: {name} digest has {len(raw)} bytes, not {size}")


def _decode_hex_only(name: str, digest: str, field: str) -> str:
    size = _DIGEST_SIZES.get(name)
    hex_length = 2 * size if size is not None else _HEX_CHECKSUMS.get(name)
    if hex_length is None:
        return digest
    if len(digest) != hex_length or not _HEX.fullmatch(digest):
        raise DigestHeaderError(f"{field}: {name} value is not {hex_length} hex digits")
    return digest.lower()


def _decode_legacy(name: str, encoded: str, field: str) -> str:
    if name in _DIGEST_SIZES:
        return _decode_binary(name, encoded, field)
    return _decode_hex_only(name, encoded, field)


def _decode_binary(name: str, encoded: str, field: str) -> str:
    """Hex of a byte-string digest given in base64 or, leniently, in hex."""
    size = _DIGEST_SIZES[name]
    if len(encoded) == 2 * size and _HEX.fullmatch(encoded):
        return encoded.lower()
    if not _BASE64.fullmatch(encoded):
        raise DigestHeaderError(f"{field}: {name} value is neither base64 nor hex")
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DigestHeaderError(f"{field}: {name} value is not valid base64") from exc
    _check_size(name, raw, field)
    return raw.hex()
