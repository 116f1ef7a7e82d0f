"""A received message -> the files it carries, with their declared hashes.

Contract of ``parse_message``:
- the MIME tree is bounded before and while it is parsed (``Limits``: parts, nesting depth);
  too complex -> ``MessageRefusedError`` 552, malformed (any defect the parser reports, bad
  base64, missing boundaries) -> ``MessageRefusedError`` 554; nothing has been stored then;
- a leaf part with a file name (or ``Content-Disposition: attachment``) is an attachment
  (RFC 2231 and RFC 2047 encoded names are decoded, then cut to their last segment);
  text parts without a name (the message text) are ignored; archives are stored as they are,
  never expanded;
- ``NAME.sha256`` parts whose NAME is another attachment of the message are not stored: their
  first word is that attachment's declared SHA-256;
- two whole files of the same name in one message -> ``MessageRefusedError`` 550 (one would
  silently replace the other);
- a top-level ``message/partial`` (RFC 2046) is returned as a ``Fragment``; the message it is
  part of is parsed with ``parse_message`` again once all fragments are there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import errors, policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from urllib.parse import unquote

from davserver.errors import DavserverError

PART_HEADER = "X-Davsync-Part"
SHA256_HEADER = "X-Davsync-SHA256"
PATH_HEADER = "X-Davsync-Path"
RECEIPT_HEADER = "X-Davsync-Receipt-Id"

_STRICT = policy.compat32.clone(raise_on_defect=True)
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_PIECE = re.compile(r"^\s*(\S+)\s+(\d{1,9})\s*/\s*(\d{1,9})\s*$")
_CONTAINER = re.compile(rb"(?im)^content-type:\s*(?:multipart|message)/")
_BOUNDARY = re.compile(rb'(?i)boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))')
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


class MessageRefusedError(DavserverError):
    """The message cannot be accepted; ``code`` and ``text`` make the SMTP reply."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text

    @property
    def reply(self) -> str:
        """The SMTP reply line."""
        return f"{self.code} {self.text}"


def malformed(why: str) -> MessageRefusedError:
    """554 for MIME the gateway cannot read."""
    return MessageRefusedError(554, f"5.6.0 Malformed message: {why}")


def refused(why: str) -> MessageRefusedError:
    """550 for a well-formed message the gateway will not store."""
    return MessageRefusedError(550, f"5.7.1 {why}")


@dataclass(frozen=True)
class Limits:
    """Bounds on one message's MIME tree."""

    max_parts: int = 100
    max_depth: int = 5


@dataclass(frozen=True)
class Piece:
    """Part ``number`` of ``total`` of the file ``file_id`` (whole-file ``sha256``, declared
    at least on the last piece)."""

    file_id: str
    number: int
    total: int
    sha256: str | None


@dataclass(frozen=True)
class Attachment:
    """One file of a message. ``name`` is a safe relative path (``/``-separated)."""

    name: str
    data: bytes
    content_md5: str | None = None
    sha256: str | None = None
    piece: Piece | None = None


@dataclass(frozen=True)
class Fragment:
    """An RFC 2046 ``message/partial``: fragment ``number`` (``total`` known on the last)."""

    id: str
    number: int
    total: int | None
    body: bytes


@dataclass
class ParsedMessage:
    """What a message carries."""

    message_id: str
    receipt_id: str | None
    attachments: list[Attachment] = field(default_factory=list)
    fragment: Fragment | None = None


def safe_token(value: str | None) -> str | None:
    """``value`` if it is a safe file-name token (1-100 of ``[A-Za-z0-9._-]``), else None."""
    if value is None:
        return None
    value = value.strip()
    return value if _TOKEN.match(value) and value not in (".", "..") else None


def safe_relative_path(value: str) -> str:
    """``value`` as a clean relative path, or ``MessageRefusedError`` naming it."""
    parts = [p for p in value.strip().split("/") if p]
    if not parts or any(p in (".", "..") or _CONTROL.search(p) for p in parts):
        raise refused(f"unsafe file name {value!r}")
    return "/".join(parts)


def parse_message(raw: bytes, limits: Limits) -> ParsedMessage:
    """The files in ``raw`` (a whole message, CRLF or LF line ends); see the module doc."""
    head = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    message_id = str(head.get("Message-ID", "")).strip()
    receipt_id = safe_token(head.get(RECEIPT_HEADER))
    if head.get_content_type() == "message/partial":
        return ParsedMessage(message_id, receipt_id, fragment=_fragment(head, raw))
    _prescan(raw, limits)
    try:
        message = BytesParser(policy=_STRICT).parsebytes(raw)
        attachments = _Walker(limits).collect(message)
    except RecursionError:
        raise MessageRefusedError(552, "5.3.4 Message too complex (nesting)") from None
    except (errors.MessageError, ValueError) as exc:
        raise malformed(type(exc).__name__) from exc
    return ParsedMessage(message_id, receipt_id, attachments=_unique(_pair_sidecars(attachments)))


def _prescan(raw: bytes, limits: Limits) -> None:
    """Refuse a bomb before the parser builds its tree (cheap upper bounds on the counts)."""
    containers = len(_CONTAINER.findall(raw))
    boundaries = {m.group(1) or m.group(2) for m in _BOUNDARY.finditer(raw)}
    if containers > limits.max_parts or len(boundaries) > limits.max_parts:
        raise MessageRefusedError(
            552, f"5.3.4 Message too complex (more than {limits.max_parts} parts)"
        )
    delimiters = sum(raw.count(b"\n--" + b) for b in boundaries)
    if delimiters > 2 * limits.max_parts + len(boundaries):
        raise MessageRefusedError(
            552, f"5.3.4 Message too complex (more than {limits.max_parts} parts)"
        )


def _fragment(head: Message, raw: bytes) -> Fragment:
    frag_id = head.get_param("id")
    number = head.get_param("number")
    total = head.get_param("total")
    if not isinstance(frag_id, str) or not isinstance(number, str) or not number.isdigit():
        raise malformed("message/partial without id and number")
    if total is not None and (not isinstance(total, str) or not total.isdigit()):
        raise malformed("message/partial with a bad total")
    cut = _body_start(raw)
    return Fragment(
        id=frag_id,
        number=int(number),
        total=int(total) if isinstance(total, str) else None,
        body=raw[cut:],
    )


def _body_start(raw: bytes) -> int:
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep)
        if at >= 0:
            return at + len(sep)
    raise malformed("no body")


class _Walker:
    """Depth-first walk counting parts and depth against the limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.parts = 0
        self.found: list[Attachment] = []

    def collect(self, message: Message) -> list[Attachment]:
        self._visit(message, 0)
        return self.found

    def _visit(self, part: Message, depth: int) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise MessageRefusedError(
                552, f"5.3.4 Message too complex (more than {self.limits.max_parts} parts)"
            )
        if depth > self.limits.max_depth:
            raise MessageRefusedError(
                552, f"5.3.4 Message too complex (nested deeper than {self.limits.max_depth})"
            )
        if part.is_multipart():
            payload = part.get_payload()
            if not isinstance(payload, list):
                raise malformed("multipart without parts")
            for sub in payload:
                if not isinstance(sub, Message):
                    raise malformed("multipart with a part that is not a message")
                self._visit(sub, depth + 1)
            return
        if part.get_content_type() == "message/partial":
            raise malformed("message/partial inside another message")
        name = part.get_filename()
        if name is None and part.get_content_disposition() != "attachment":
            return
        self.found.append(_attachment(part, name, len(self.found) + 1))


def _attachment(part: Message, name: str | None, index: int) -> Attachment:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        raise malformed("attachment without content")
    path_header = part.get(PATH_HEADER)
    if path_header:
        # percent-encoded, possibly folded: white space is never part of the value
        rel = safe_relative_path(unquote("".join(str(path_header).split())))
    else:
        base = _decoded(name or f"attachment-{index}").replace("\\", "/").rsplit("/", 1)[-1]
        rel = safe_relative_path(base)
    md5 = part.get("Content-MD5")
    return Attachment(
        name=rel,
        data=data,
        content_md5=str(md5).strip() if md5 else None,
        piece=_piece(part),
    )


def _decoded(name: str) -> str:
    """A file name with RFC 2047 encoded words (``=?UTF-8?B?...?=``, how many mail programs
    send non-ASCII names) decoded; unchanged when there are none or they cannot be read."""
    if "=?" not in name:
        return name
    try:
        return str(make_header(decode_header(name)))
    except (errors.HeaderParseError, LookupError, UnicodeDecodeError, ValueError):
        return name


def _piece(part: Message) -> Piece | None:
    header = part.get(PART_HEADER)
    if header is None:
        return None
    match = _PIECE.match(str(header))
    sha = str(part.get(SHA256_HEADER, "")).strip()
    if match is None or safe_token(match.group(1)) is None:
        raise malformed(f"bad {PART_HEADER} header {str(header)!r}")
    number, total = int(match.group(2)), int(match.group(3))
    if not 1 <= number <= total:
        raise malformed(f"bad {PART_HEADER} numbers {number}/{total}")
    if sha and not _HEX64.match(sha):
        raise malformed(f"bad {SHA256_HEADER} header {sha!r}")
    if not sha and number == total:
        raise malformed(f"the last piece needs a {SHA256_HEADER} of the whole file")
    return Piece(match.group(1), number, total, sha.lower() or None)


def _unique(found: list[Attachment]) -> list[Attachment]:
    """``found``, or 550 when two whole files would land on the same name: the second would
    silently replace the first, and which one the sender meant to keep is unknown."""
    seen: set[str] = set()
    for item in found:
        if item.piece is not None:
            continue  # a piece sent twice replaces its first copy (reassemble)
        if item.name in seen:
            raise refused(f"two attachments named {item.name!r} (a name may be sent only once)")
        seen.add(item.name)
    return found


def _pair_sidecars(found: list[Attachment]) -> list[Attachment]:
    """Turn ``NAME.sha256`` parts into the declared SHA-256 of attachment NAME."""
    names = {a.name for a in found}
    declared: dict[str, str] = {}
    kept: list[Attachment] = []
    for item in found:
        target = item.name[: -len(".sha256")] if item.name.endswith(".sha256") else None
        if target is not None and target in names:
            words = item.data.decode("ascii", "replace").split()
            if not words or not _HEX64.match(words[0]):
                raise malformed(f"{item.name} does not hold a SHA-256 in hex")
            declared[target] = words[0].lower()
            continue
        kept.append(item)
    return [
        Attachment(a.name, a.data, a.content_md5, declared[a.name], a.piece)
        if a.name in declared
        else a
        for a in kept
    ]
