"""Case-insensitive header lookup shared by the modules of this package."""

from __future__ import annotations

from collections.abc import Mapping


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Return the value of header ``name`` from ``headers``, or None when absent.

    Field names are case-insensitive: the lower-case key is tried first, then ``name`` as
    given, then every key compared case-insensitively. A mapping cannot hold repeated
    fields, so callers must pass repeated list-valued fields already joined with ", ".
    """
    lower = name.lower()
    value = headers.get(lower)
    if value is None:
        value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == lower:
                return candidate
    return value
