"""``DavRequest``: the one typed view handlers and resources take of a request's environ.

It answers what the seam asks of a request (the authenticated user, headers, the declared
body length, the client's ``X-OC-Mtime``, the declared digests, the write preconditions) and
queues response headers that WsgiDAV's own handlers cannot add; the extensions middleware
sends them with the response (``queued_response_headers``). Malformed input becomes a
DAVError 400 here, once, so callers never parse a header themselves.
"""

from __future__ import annotations

from davserver.dav.errors import bad_request
from davserver.http import environ as wsgi_environ
from davserver.http.digests import DigestHeaderError, expected_digests_from_headers
from davserver.http.environ import Environ
from davserver.uploads import protocol
from davserver.uploads.errors import ProtocolError

RESPONSE_HEADERS_KEY = "davsync.response_headers"


class DavRequest:
    """A view over one WSGI environ (it holds no state of its own but the environ)."""

    __slots__ = ("environ",)

    def __init__(self, environ: Environ) -> None:
        self.environ = environ

    @property
    def user(self) -> str:
        """The authenticated user ("" if anonymous)."""
        return wsgi_environ.authenticated_user(self.environ)

    @property
    def method(self) -> str:
        """The request method, upper-case."""
        return str(self.environ.get("REQUEST_METHOD", "")).upper()

    def header(self, name: str) -> str | None:
        """The value of request header ``name`` (any spelling), or None."""
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = self.environ.get(key)
        return None if value is None else str(value)

    @property
    def headers(self) -> dict[str, str]:
        """Every request header, lower-case dash-separated names."""
        return wsgi_environ.request_headers(self.environ)

    @property
    def declared_length(self) -> int | None:
        """The announced body length; None when chunked or absent. DAVError 400 if invalid."""
        try:
            return wsgi_environ.declared_length(self.environ)
        except wsgi_environ.ContentLengthError as exc:
            raise bad_request(str(exc)) from exc

    @property
    def mtime_ns(self) -> int | None:
        """``X-OC-Mtime`` (unix seconds, fractions allowed) in ns; None if absent.

        DAVError 400 if it is not a number or lies outside 0 .. 2**33 seconds.
        """
        raw = self.environ.get("HTTP_X_OC_MTIME")
        if raw is None:
            return None
        try:
            return protocol.parse_mtime_ns(str(raw), "X-OC-Mtime")
        except ProtocolError as exc:
            raise bad_request(str(exc)) from exc

    def expected_digests(self) -> dict[str, str]:
        """The digests the client declared for the body (algorithm -> hex), from
        ``OC-Checksum``, ``Content-Digest``, ``Digest`` and ``Content-MD5``. DAVError 400
        when one is malformed or two disagree."""
        try:
            return expected_digests_from_headers(self.headers)
        except DigestHeaderError as exc:
            raise bad_request(str(exc)) from exc

    def write_preconditions(self) -> tuple[str | None, bool]:
        """(single strong If-Match ETag, If-None-Match: *) to re-check atomically at commit."""
        if_match = str(self.environ.get("HTTP_IF_MATCH", "")).strip()
        tag: str | None = None
        if if_match and if_match != "*" and "," not in if_match and not if_match.startswith("W/"):
            tag = if_match.strip('"')
        return tag, str(self.environ.get("HTTP_IF_NONE_MATCH", "")).strip() == "*"

    def add_response_header(self, name: str, value: str) -> None:
        """Queue a header for the response (sent by the extensions middleware on 2xx)."""
        self.environ.setdefault(RESPONSE_HEADERS_KEY, []).append((name, value))

    def queued_response_headers(self) -> list[tuple[str, str]]:
        """The headers queued so far (the list itself: appending to it queues more)."""
        queued: list[tuple[str, str]] = self.environ.setdefault(RESPONSE_HEADERS_KEY, [])
        return queued
