"""Conditional requests (RFC 9110 section 13) and HTTP dates (RFC 9110 section 5.6.7).

``evaluate`` applies If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since in
the order of RFC 9110 section 13.2.2; ``if_range_allows`` evaluates If-Range (section
13.1.5). Entity tags are handled unquoted on the server side: ``current_etag`` is the opaque
tag of a strong validator, without quotes and without ``W/``.

Choices where the RFC leaves room, all made in the direction of refusing a write rather than
overwriting on a doubtful condition:

* A list member that is not a valid entity tag matches nothing. So a garbled If-Match fails
  (412) and a garbled If-None-Match holds (the request proceeds).
* For compatibility with clients that strip the quotes, an unquoted member such as ``abc``
  is read as the strong tag ``"abc"``.
* ``W/`` is case-sensitive, as in the grammar; ``w/"x"`` is a garbled member.
* Dates that are not valid HTTP-dates are ignored, as the RFC requires. If-Modified-Since
  is also ignored when it is later than ``now_s`` (the server's clock), when given.
* Request methods are case-sensitive (RFC 9110 section 9.1): only ``GET`` and ``HEAD``
  get 304 responses.

The caller remains responsible for RFC 9110 section 13.2.1: preconditions are evaluated only
when the response without them would have been 2xx or 412 (for instance a GET of a missing
resource answers 404 without calling ``evaluate``), and after authentication.
"""

from __future__ import annotations

import calendar
import enum
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from davserver.http._headers import get_header

_SAFE_METHODS = frozenset({"GET", "HEAD"})

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name.lower(): index + 1 for index, name in enumerate(_MONTHS)}

_DAY_RE = "|".join(_DAYS)
_LONG_DAY_RE = "|".join(_LONG_DAYS)
_MONTH_RE = "|".join(_MONTHS)
_TIME_RE = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
_FLAGS = re.ASCII | re.IGNORECASE

# Sun, 06 Nov 1994 08:49:37 GMT
_IMF_FIXDATE = re.compile(
    rf"(?:{_DAY_RE}), ([0-9]{{2}}) ({_MONTH_RE}) ([0-9]{{4}}) {_TIME_RE} GMT", _FLAGS
)
# Sunday, 06-Nov-94 08:49:37 GMT
_RFC850_DATE = re.compile(
    rf"(?:{_LONG_DAY_RE}), ([0-9]{{2}})-({_MONTH_RE})-([0-9]{{2}}) {_TIME_RE} GMT", _FLAGS
)
# Sun Nov  6 08:49:37 1994
_ASCTIME_DATE = re.compile(
    rf"(?:{_DAY_RE}) ({_MONTH_RE}) ([0-9]{{2}}| [0-9]) {_TIME_RE} ([0-9]{{4}})", _FLAGS
)

_ETAG_MEMBER = re.compile(r'[ \t]*(W/)?(?:"([^"]*)"|([^\s,"]+))[ \t]*(?=,|\Z)')
_SINGLE_ETAG = re.compile(r'(W/)?"([^"]*)"')


class Outcome(enum.Enum):
    """Result of evaluating the preconditions of a request."""

    PROCEED = "proceed"
    NOT_MODIFIED = "not-modified"
    PRECONDITION_FAILED = "precondition-failed"

    @property
    def status(self) -> int | None:
        """The response status to send instead of processing, or None for PROCEED."""
        return _STATUS[self]


_STATUS = {Outcome.PROCEED: None, Outcome.NOT_MODIFIED: 304, Outcome.PRECONDITION_FAILED: 412}


@dataclass(frozen=True, slots=True)
class EntityTag:
    """One entity tag: the opaque tag without quotes, and whether it was marked ``W/``."""

    tag: str
    weak: bool = False

    def strong_match(self, current: str) -> bool:
        """Strong comparison (RFC 9110 8.8.3.2) with the strong tag ``current``."""
        return not self.weak and self.tag == current

    def weak_match(self, current: str) -> bool:
        """Weak comparison (RFC 9110 8.8.3.2) with the tag ``current``."""
        return self.tag == current


def parse_etag_list(value: str) -> list[EntityTag]:
    """The entity tags of a comma-separated list such as ``"a", W/"b"``.

    Members that are not entity tags are dropped (they match nothing); an unquoted member
    without whitespace or quotes is accepted as a tag. Never raises. The wildcard ``*`` is not
    interpreted here; see ``is_wildcard``.
    """
    tags: list[EntityTag] = []
    pos, end = 0, len(value)
    while pos < end:
        if value[pos] in " \t,":
            pos += 1
            continue
        match = _ETAG_MEMBER.match(value, pos)
        if match is None:
            comma = value.find(",", pos)
            pos = end if comma < 0 else comma + 1
            continue
        weak, quoted, bare = match.groups()
        tags.append(EntityTag(quoted if quoted is not None else bare, weak is not None))
        pos = match.end()
    return tags


def is_wildcard(value: str) -> bool:
    """True when a field value is the ``*`` form of If-Match / If-None-Match."""
    return value.strip(" \t") == "*"


def parse_http_date(value: str, now_s: float | None = None) -> int | None:
    """Seconds since the epoch for an HTTP-date, or None when ``value`` is not one.

    Accepts IMF-fixdate, the obsolete RFC 850 form and the asctime form (RFC 9110 5.6.7),
    with names matched case-insensitively and surrounding whitespace ignored. A two-digit
    RFC 850 year that would be more than 50 years after ``now_s`` (default: the current
    time) is taken as the most recent past year with those digits. The weekday is not
    checked against the date. Never raises.
    """
    text = value.strip(" \t")
    if match := _IMF_FIXDATE.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(int(year), month, day, hour, minute, second)
    if match := _RFC850_DATE.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(_full_year(int(year), now_s), month, day, hour, minute, second)
    if match := _ASCTIME_DATE.fullmatch(text):
        month, day, hour, minute, second, year = match.groups()
        return _timestamp(int(year), month, day, hour, minute, second)
    return None


def _full_year(two_digits: int, now_s: float | None) -> int:
    now_year = time.gmtime(time.time() if now_s is None else now_s).tm_year
    year = now_year - now_year % 100 + two_digits
    return year - 100 if year > now_year + 50 else year


def _timestamp(year: int, month: str, day: str, hour: str, minute: str, second: str) -> int | None:
    month_number = _MONTH_NUMBER[month.lower()]
    day_number, h, m, s = int(day), int(hour), int(minute), int(second)
    if year < 1 or h > 23 or m > 59 or s > 60:
        return None
    if not 1 <= day_number <= calendar.monthrange(year, month_number)[1]:
        return None
    return calendar.timegm((year, month_number, day_number, h, m, s, 0, 0, 0))


def http_date(ts: float) -> str:
    """Format ``ts`` (seconds since the epoch, fractions dropped) as an IMF-fixdate.

    Example: ``Sun, 06 Nov 1994 08:49:37 GMT``. Locale-independent. Raises ValueError when
    ``ts`` is not finite or falls outside the years 1 to 9999.
    """
    if not math.isfinite(ts):
        raise ValueError(f"not a finite timestamp: {ts!r}")
    try:
        t = time.gmtime(math.floor(ts))
    except (OverflowError, OSError) as exc:
        raise ValueError(f"timestamp out of range: {ts!r}") from exc
    if not 1 <= t.tm_year <= 9999:
        raise ValueError(f"timestamp out of range: {ts!r}")
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def if_match_holds(value: str, current_etag: str | None) -> bool:
    """RFC 9110 13.1.1: does the If-Match condition ``value`` hold?

    ``*`` holds when the resource exists; otherwise some listed tag must match
    ``current_etag`` by strong comparison. A missing resource matches no tag.
    """
    if current_etag is None:
        return False
    if is_wildcard(value):
        return True
    return any(tag.strong_match(current_etag) for tag in parse_etag_list(value))


def if_none_match_holds(value: str, current_etag: str | None) -> bool:
    """RFC 9110 13.1.2: does the If-None-Match condition ``value`` hold?

    ``*`` holds only when the resource does not exist; otherwise no listed tag may match
    ``current_etag`` by weak comparison.
    """
    if current_etag is None:
        return True
    if is_wildcard(value):
        return False
    return not any(tag.weak_match(current_etag) for tag in parse_etag_list(value))


def if_unmodified_since_holds(
    value: str, last_modified_s: int | None, now_s: float | None = None
) -> bool:
    """RFC 9110 13.1.4: false only when the resource changed after the date ``value``.

    Holds (the field is ignored) when ``value`` is not a valid HTTP-date or the resource has
    no modification time. ``now_s`` only anchors two-digit RFC 850 years.
    """
    date = parse_http_date(value, now_s)
    if date is None or last_modified_s is None:
        return True
    return last_modified_s <= date


def if_modified_since_holds(
    value: str, last_modified_s: int | None, now_s: float | None = None
) -> bool:
    """RFC 9110 13.1.3: true when the resource changed after the date ``value``.

    A modification time equal to the date means "not modified" (false). Holds (the field is
    ignored) when ``value`` is not a valid HTTP-date, is later than ``now_s`` when given, or
    the resource has no modification time.
    """
    date = parse_http_date(value, now_s)
    if date is None or last_modified_s is None:
        return True
    if now_s is not None and date > now_s:
        return True
    return last_modified_s > date


def evaluate(
    method: str,
    headers: Mapping[str, str],
    current_etag: str | None,
    last_modified_s: int | None,
    now_s: float | None = None,
) -> Outcome:
    """Evaluate the preconditions of a request in the order of RFC 9110 section 13.2.2.

    ``headers`` is looked up case-insensitively. ``current_etag`` is the unquoted strong tag
    of the current representation, None when the resource does not exist (its
    ``last_modified_s`` is then ignored). ``last_modified_s`` is the modification time in
    whole seconds, as sent in Last-Modified. ``now_s`` is the server's clock, used to ignore
    If-Modified-Since dates in the future.

    Returns PRECONDITION_FAILED (412) when If-Match or If-Unmodified-Since fails, or when
    If-None-Match fails for a method other than GET/HEAD; NOT_MODIFIED (304) when
    If-None-Match or If-Modified-Since fails for GET/HEAD; PROCEED otherwise. Never raises
    on any header text.
    """
    mtime = last_modified_s if current_etag is not None else None
    if not _write_conditions_hold(headers, current_etag, mtime, now_s):
        return Outcome.PRECONDITION_FAILED
    if not _read_conditions_hold(method, headers, current_etag, mtime, now_s):
        return Outcome.NOT_MODIFIED if method in _SAFE_METHODS else Outcome.PRECONDITION_FAILED
    return Outcome.PROCEED


def _write_conditions_hold(
    headers: Mapping[str, str], etag: str | None, mtime: int | None, now_s: float | None
) -> bool:
    """Steps 1 and 2: If-Match, else If-Unmodified-Since."""
    if_match = get_header(headers, "If-Match")
    if if_match is not None:
        return if_match_holds(if_match, etag)
    unmodified_since = get_header(headers, "If-Unmodified-Since")
    return unmodified_since is None or if_unmodified_since_holds(unmodified_since, mtime, now_s)


def _read_conditions_hold(
    method: str,
    headers: Mapping[str, str],
    etag: str | None,
    mtime: int | None,
    now_s: float | None,
) -> bool:
    """Steps 3 and 4: If-None-Match, else If-Modified-Since for GET and HEAD."""
    if_none_match = get_header(headers, "If-None-Match")
    if if_none_match is not None:
        return if_none_match_holds(if_none_match, etag)
    if method not in _SAFE_METHODS:
        return True
    modified_since = get_header(headers, "If-Modified-Since")
    return modified_since is None or if_modified_since_holds(modified_since, mtime, now_s)


def if_range_allows(
    header_value: str | None, etag: str | None, last_modified_s: int | None
) -> bool:
    """RFC 9110 13.1.5: may the Range header be honoured given If-Range ``header_value``?

    True when there is no If-Range field (None); when it is a strong entity tag equal to
    ``etag``; or when it is an HTTP-date exactly equal to ``last_modified_s``. False for a
    weak tag, a mismatch, a missing resource (``etag`` None) or a value that is neither an
    entity tag nor a date; the caller then sends the whole representation (200). Applying
    If-Range only to GET requests that carry a Range field is the caller's job.
    """
    if header_value is None:
        return True
    if etag is None:
        return False
    text = header_value.strip(" \t")
    tag = _SINGLE_ETAG.fullmatch(text)
    if tag is not None:
        return EntityTag(tag.group(2), tag.group(1) is not None).strong_match(etag)
    date = parse_http_date(text)
    return date is not None and last_modified_s is not None and date == last_modified_s
