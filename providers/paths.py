"""The one path policy every front end and provider applies.

A *storage path* is a relative POSIX path: segments joined by ``/``, no leading or trailing
slash, ``""`` for the root of the storage. ``normalize`` turns anything a client sent (already
percent-decoded) into a storage path or raises ``InvalidPathError``; nothing that escapes the
root, no NUL or control character, no empty, ``.`` or ``..`` segment, no segment over 255 UTF-8
bytes and no path over 4096 bytes is ever accepted. Names are normalised to Unicode NFC so that
a name sent as NFD by macOS and as NFC by Windows is one file.
"""

from __future__ import annotations

import unicodedata

from providers.errors import InvalidPathError

MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 4096


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


def validate_segment(segment: str) -> str:
    """Return ``segment`` in NFC form, or raise InvalidPathError saying what is wrong."""
    if segment in (".", ".."):
        raise InvalidPathError(f"dot segment {segment!r} not allowed")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in segment):
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
