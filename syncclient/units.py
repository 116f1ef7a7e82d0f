"""Parsing of sizes (``10MiB``, ``512k``, ``1.5G``) and durations (``90``, ``15m``, ``2h``)."""

from __future__ import annotations

import re

from syncclient import UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(text: str | int) -> int:
    """Bytes from ``123``, ``512k``, ``10M``, ``10MiB``, ``1.5G`` (binary units: k = 1024).
    Raises UsageError."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"not a size: {text!r} (examples: 500000, 512k, 10MiB, 2G)")
    return int(float(m.group(1)) * 1024 ** _POWERS[m.group(2).lower()])


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h``, ``1d``. Raises UsageError."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"not a duration: {text!r} (examples: 90, 90s, 15m, 2h)")
    return float(m.group(1)) * _SECONDS[m.group(2).lower()]
