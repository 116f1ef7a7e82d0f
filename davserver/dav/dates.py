"""``getlastmodified`` dates for listings, written as WsgiDAV writes them, without its cost.

WsgiDAV formats every date with ``email.utils.formatdate`` (through a ``datetime``), a
noticeable share of a listing of thousands of files. ``http_date`` writes the same text
(``Tue, 01 Dec 2026 18:22:28 GMT``) from ``time.gmtime`` and keeps the text of recent whole
seconds, since the files of a folder often share them.
"""

from __future__ import annotations

import math
import time

from wsgidav import util

__all__ = ["http_date"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NEXT_SECOND_EDGE = 0.999999
"""``formatdate`` rounds to microseconds first: a fraction this close to 1 may carry into
the next second, so such times are left to it."""
_KEPT = 4096
_seen: dict[int, str] = {}


def http_date(secs: float) -> str:
    """``wsgidav.util.get_rfc1123_time(secs)``, for ``secs`` since the epoch."""
    try:
        whole = math.floor(secs)
    except (OverflowError, ValueError):
        return str(util.get_rfc1123_time(secs))
    if secs - whole >= _NEXT_SECOND_EDGE:
        return str(util.get_rfc1123_time(secs))
    text = _seen.get(whole)
    if text is None:
        try:
            t = time.gmtime(whole)
        except (OverflowError, OSError, ValueError):
            return str(util.get_rfc1123_time(secs))
        text = (
            f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
        )
        if len(_seen) >= _KEPT:
            _seen.clear()
        _seen[whole] = text
    return text
