"""The one path policy every front end and provider applies.

A *storage path* is a relative POSIX path: segments joined by ``/``, no leading or trailing
slash, ``""`` for the root of the storage. ``normalize`` turns anything a client sent (already
percent-decoded) into a storage path or raises ``InvalidPathError``; nothing that escapes the
root, no NUL or control character, no empty, ``.`` or ``..`` segment, no segment over 255 UTF-8
bytes and no path over 4096 bytes is ever accepted. Names are normalised to Unicode NFC so that
a name sent as NFD by macOS and as NFC by Windows is one file.

Request paths (``decode_url_path``), the percent-encoded form a client puts on the wire, are
decided here too, before anything is decoded twice:

- an encoded separator (``%2F``, ``%5C``) is refused: a name cannot contain ``/``, and a
  server that decoded it later would see a different path than the one checked;
- a ``%`` not followed by two hex digits is refused;
- the decoded bytes must be valid UTF-8 (no overlong forms, no surrogates);
- NUL and control characters, literal or encoded, are refused;
- dot segments (``.``, ``..``, also as ``%2e``) are refused rather than resolved, so what
  the access check sees is exactly what the client named.

Portable names (``PathPolicy(windows_compatible=True)``): data collected from and restored to
Windows machines must keep distinct names distinct there. The policy then also refuses, for
*new* names only, every name the rule set in ``syncclient.winnames`` flags (device names,
a trailing dot or space, the characters ``< > : " | ? *``; the client applies the same rules,
so both sides agree) and a name that differs only in case from an existing sibling
(``case_key``). Existing names stay readable. The default policy allows them, as a Linux file
system does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from providers.errors import ConflictError, InvalidPathError
from syncclient import winnames

MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 4096

_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_BAD_PERCENT = re.compile(r"%(?![0-9a-fA-F]{2})")


def normalize(raw: str) -> str:
    """Return the storage path for ``raw`` (slashes at either end ignored, ``//`` folded).

    Raises InvalidPathError for dot segments, control characters, backslashes, surrogates
    (undecodable bytes) or over-long names.
    """
    if "\x00" in raw:
        raise InvalidPathError("path contains a NUL byte")
    segments = [s for s in raw.split("/") if s != ""]
    clean = [validate_segment(s) for s in segments]
    path = "/".join(clean)
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise InvalidPathError(f"path longer than {MAX_PATH_BYTES} bytes")
    return path


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def validate_segment(segment: str) -> str:
    """Return ``segment`` in NFC form, or raise InvalidPathError saying what is wrong."""
    if segment in (".", ".."):
        raise InvalidPathError(f"dot segment {segment!r} not allowed")
    if _CONTROL.search(segment):
        raise InvalidPathError(f"control character in name {segment!r}")
    if "\\" in segment:
        raise InvalidPathError(f"backslash in name {segment!r}")
    try:
        encoded = segment.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPathError("name is not valid UTF-8") from exc
    if len(encoded) > MAX_SEGMENT_BYTES:
        raise InvalidPathError(f"name longer than {MAX_SEGMENT_BYTES} bytes")
    return unicodedata.normalize("NFC", segment)


def join(parent: str, name: str) -> str:
    """Join a storage path and one validated name."""
    name = validate_segment(name)
    return f"{parent}/{name}" if parent else name


def parent_of(path: str) -> str:
    """The storage path of the parent (the root is its own parent)."""
    return path.rsplit("/", 1)[0] if "/" in path else ""


def name_of(path: str) -> str:
    """The last segment of ``path`` (``""`` for the root)."""
    return path.rsplit("/", 1)[-1]


def is_within(path: str, ancestor: str) -> bool:
    """True if ``path`` equals ``ancestor`` or lies below it."""
    return ancestor == "" or path == ancestor or path.startswith(ancestor + "/")


def decode_url_path(raw: str) -> str:
    """Decode the percent-encoded path of a request target (or Destination) to text.

    ``raw`` is the path as sent (for WSGI, the ``REQUEST_URI`` path, one character per
    byte). Slashes are kept as they are (leading, trailing and repeated ones included), so
    the result is what a WSGI ``PATH_INFO`` would hold once decoded as UTF-8.

    Raises InvalidPathError for an encoded separator, a malformed ``%`` escape, bytes that
    are not UTF-8, a NUL or control character, or a dot segment.
    """
    if _ENCODED_SEPARATOR.search(raw):
        raise InvalidPathError("encoded path separator (%2F or %5C) in the path")
    if _BAD_PERCENT.search(raw):
        raise InvalidPathError("malformed percent escape in the path")
    try:
        data = raw.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise InvalidPathError("the path is not a byte string") from exc
    try:
        text = unquote_to_bytes(data).decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidPathError("the path is not valid UTF-8") from exc
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise InvalidPathError("control character in the path")
    if any(seg in (".", "..") for seg in text.split("/")):
        raise InvalidPathError("dot segment in the path")
    return text


def case_key(name: str) -> str:
    """The key under which Windows (case-insensitive, NFC) sees ``name``."""
    return winnames.case_key(name)


def windows_name_problem(name: str) -> str | None:
    """Why Windows cannot store ``name`` faithfully, or None if it can (the shared rules of
    ``syncclient.winnames``)."""
    return winnames.component_problem(name)


@dataclass(frozen=True, slots=True)
class PathPolicy:
    """Which *new* names a provider accepts beyond ``normalize`` (see the module docstring)."""

    windows_compatible: bool = False

    def check_new_name(self, name: str, siblings: Iterable[str] = ()) -> None:
        """Raise if a new entry ``name`` may not be created next to ``siblings``.

        InvalidPathError for a name Windows cannot store; ConflictError if a sibling differs
        from ``name`` only in case. Does nothing unless ``windows_compatible``.
        """
        if not self.windows_compatible:
            return
        problem = windows_name_problem(name)
        if problem is not None:
            raise InvalidPathError(problem)
        key = case_key(name)
        for sibling in siblings:
            if sibling != name and case_key(sibling) == key:
                raise ConflictError(f"{name!r} differs only in case from {sibling!r}")

    def lock_key(self, path: str) -> str:
        """A key shared by every path that would clash with ``path`` (for commit locks)."""
        return "case:" + case_key(path) if self.windows_compatible else path
