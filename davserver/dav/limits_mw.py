"""WebDAV-level limits, in one middleware placed right after authentication.

``DavLimits`` runs for every authenticated request before access control and before WsgiDAV's
handlers (HTTP-level checks happen earlier, in ``davserver.limits`` and
``davserver.cheroot_guard``):

- **Requests without login** (the anonymous status paths) carry no body: 413 before it is
  read (twelve anonymous PROPFINDs trickling a 10 KB body to ``/status.php`` held every
  worker, and another user's request waited until they stopped).
- **Concurrency per user.** At most ``limits.max_requests_per_user`` requests of one user run
  at once (default: all worker threads but two), so one account, however slow its uploads,
  cannot take every worker; the next one gets ``429`` with ``Retry-After: 1``.
- **Headers.** ``Depth`` (``0``, ``1``, ``infinity``), ``Overwrite`` (``T``/``F``),
  ``Timeout`` (``Second-n``/``Infinite`` list), ``Lock-Token`` (one Coded-URL) and ``If``
  (``davserver.http.if_header``, at most ``limits.max_if_conditions`` conditions) must be
  well-formed, else 400. Valid values are rewritten in canonical form, and the Resource-Tags
  of ``If`` to the canonical lock URL of the resource they name, so that WsgiDAV evaluates
  tagged lists (it compares tags with its internal URL and would otherwise ignore them).
- **XML bodies** (PROPFIND, PROPPATCH, LOCK, REPORT): at most ``limits.max_xml_body_bytes``
  (413), chunked or not; checked by ``davserver.http.xml_guard`` (no DOCTYPE, depth at most
  ``limits.max_xml_depth``), else 400; then handed on buffered with a Content-Length.
- **Other bodies**: a malformed chunked encoding becomes 400 instead of 500, and a PUT body
  without Content-Length is cut off with 413 once it passes ``limits.max_put_bytes``. GET and
  HEAD with a body are 400 (WsgiDAV's directory browser fails with 500 on them).
- **PROPFIND Depth: infinity** (also an absent Depth) on a collection: refused with 403 and
  ``<D:propfind-finite-depth/>`` unless ``limits.propfind_infinity``; when enabled, refused
  the same way if the tree holds more than ``limits.max_propfind_results`` resources.
- **LOCK refresh** with somebody else's lock token: 403 (WsgiDAV checks the owner on UNLOCK
  and for writes, but not on refresh).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from wsgidav.dav_error import (
    HTTP_FORBIDDEN,
    HTTP_REQUEST_ENTITY_TOO_LARGE,
    DAVError,
    PRECONDITION_CODE_PropfindFiniteDepth,
)

from davserver.dav.errors import bad_request
from davserver.dav.request import DavRequest
from davserver.http import if_header
from davserver.http.environ import Environ, StartResponse, WSGIApp
from davserver.http.xml_guard import XMLRefusedError, check_xml
from davserver.namespace import SHARES, split_share
from davserver.settings import Settings
from providers.errors import InvalidPathError
from providers.paths import decode_url_path

if TYPE_CHECKING:
    from wsgiref.types import InputStream

    from wsgidav.dav_provider import _DAVResource

XML_METHODS = frozenset({"PROPFIND", "PROPPATCH", "LOCK", "REPORT"})
_DEPTHS = {"0": "0", "1": "1", "infinity": "infinity"}
_TIMEOUT = re.compile(
    r"\s*(infinite|second-[0-9]{1,20})\s*(,\s*(infinite|second-[0-9]{1,20})\s*)*", re.I
)
_CODED_URL = re.compile(r"\s*<[^<>\s]+>\s*")
_READ_BLOCK = 64 * 1024
_BODY_429 = b"Too many concurrent requests for this user; retry shortly.\n"


def finite_depth(message: str) -> DAVError:
    """403 with the ``DAV:propfind-finite-depth`` precondition (RFC 4918 section 9.1)."""
    return DAVError(
        HTTP_FORBIDDEN, context_info=message, err_condition=PRECONDITION_CODE_PropfindFiniteDepth
    )


class UserSlots:
    """Counts running requests per user; ``acquire`` fails once a user holds ``cap``."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, user: str) -> bool:
        """Take a slot for ``user``; False if the user already holds ``cap`` of them."""
        with self._lock:
            count = self._running.get(user, 0)
            if count >= self.cap:
                return False
            self._running[user] = count + 1
            return True

    def release(self, user: str) -> None:
        """Give back a slot of ``user``."""
        with self._lock:
            count = self._running.get(user, 0) - 1
            if count <= 0:
                self._running.pop(user, None)
            else:
                self._running[user] = count

    def running(self, user: str) -> int:
        """How many requests of ``user`` are running."""
        with self._lock:
            return self._running.get(user, 0)


class _Released:
    """Wraps a response iterable; releases the user's slot when it is closed or exhausted."""

    def __init__(self, result: Iterable[bytes], release: Callable[[], None]) -> None:
        self._result = result
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._result
        finally:
            self.close()

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class GuardedInput:
    """``wsgi.input`` for bodies WsgiDAV streams: framing errors become 400, and at most
    ``limit`` bytes (if set) are passed on before a 413."""

    def __init__(self, raw: InputStream, limit: int | None) -> None:
        self._raw = raw
        self._limit = limit
        self.count = 0

    def _account(self, data: bytes) -> bytes:
        self.count += len(data)
        if self._limit is not None and self.count > self._limit:
            raise DAVError(
                HTTP_REQUEST_ENTITY_TOO_LARGE, context_info=f"limit is {self._limit} bytes"
            )
        return data

    def _bounded(self, size: int | None) -> int | None:
        """``size``, but no more than one byte past the limit (so a read never waits for
        bytes that would be refused anyway)."""
        if self._limit is None:
            return None if size is None or size < 0 else size
        room = max(0, self._limit - self.count) + 1
        return room if size is None or size < 0 else min(size, room)

    def read(self, size: int | None = -1) -> bytes:
        size = self._bounded(size)
        try:
            data = self._raw.read() if size is None else self._raw.read(size)
        except ValueError as exc:  # cheroot: malformed chunked transfer coding
            raise bad_request("malformed chunked request body") from exc
        return self._account(data)

    def readline(self, size: int | None = -1) -> bytes:
        size = self._bounded(size)
        try:
            data = self._raw.readline() if size is None else self._raw.readline(size)
        except ValueError as exc:
            raise bad_request("malformed chunked request body") from exc
        return self._account(data)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class DavLimits:
    """See the module docstring; ``settings`` gives the limits and the thread count."""

    def __init__(self, next_app: WSGIApp, *, settings: Settings) -> None:
        self.next_app = next_app
        self.limits = settings.limits
        cap = self.limits.max_requests_per_user or max(1, settings.server.threads - 2)
        self.slots = UserSlots(cap)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        user = DavRequest(environ).user
        if not user:
            self._refuse_anonymous_body(environ)
            self._check(environ)
            return self.next_app(environ, start_response)
        if not self.slots.acquire(user):
            start_response(
                "429 Too Many Requests",
                [
                    ("Retry-After", "1"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_BODY_429))),
                    ("Connection", "close"),
                ],
            )
            return [_BODY_429]
        try:
            self._check(environ)
            result = self.next_app(environ, start_response)
        except BaseException:
            self.slots.release(user)
            raise
        return _Released(result, lambda: self.slots.release(user))

    # --- checks ----------------------------------------------------------------------------

    def _check(self, environ: Environ) -> None:
        method = str(environ.get("REQUEST_METHOD", "")).upper()
        self._check_headers(environ)
        if method in XML_METHODS:
            self._buffer_xml(environ)
        else:
            self._guard_body(environ, method)
        if method == "PROPFIND":
            self._check_propfind_depth(environ)
        elif method == "LOCK":
            self._check_refresh_owner(environ)

    @staticmethod
    def _refuse_anonymous_body(environ: Environ) -> None:
        """413 for a body on a request without login (the anonymous status paths take
        none); such a body would otherwise be read, as slowly as the client sends it."""
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if chunked or DavRequest(environ).declared_length:
            raise DAVError(
                HTTP_REQUEST_ENTITY_TOO_LARGE, context_info="requests without login carry no body"
            )

    def _check_headers(self, environ: Environ) -> None:
        depth = environ.get("HTTP_DEPTH")
        if depth is not None:
            canonical = _DEPTHS.get(depth.strip().lower())
            if canonical is None:
                raise bad_request("Depth must be 0, 1 or infinity")
            environ["HTTP_DEPTH"] = canonical
        overwrite = environ.get("HTTP_OVERWRITE")
        if overwrite is not None:
            if overwrite.strip().upper() not in ("T", "F"):
                raise bad_request("Overwrite must be T or F")
            environ["HTTP_OVERWRITE"] = overwrite.strip().upper()
        timeout = environ.get("HTTP_TIMEOUT")
        if timeout is not None and not _TIMEOUT.fullmatch(timeout):
            raise bad_request("Timeout must be a list of Second-n or Infinite")
        token = environ.get("HTTP_LOCK_TOKEN")
        if token is not None and not _CODED_URL.fullmatch(token):
            raise bad_request("Lock-Token must be one <coded-URL>")
        if "HTTP_IF" in environ:
            environ["HTTP_IF"] = self._canonical_if(environ)

    # --- If header -------------------------------------------------------------------------

    def _canonical_if(self, environ: Environ) -> str:
        try:
            parsed = if_header.parse(
                str(environ["HTTP_IF"]), max_conditions=self.limits.max_if_conditions
            )
        except if_header.IfHeaderError as exc:
            raise bad_request(f"malformed If header: {exc}") from exc
        environ["davsync.if"] = parsed
        groups = tuple(
            if_header.TaggedLists(
                None if g.resource is None else self._canonical_tag(environ, g.resource),
                g.lists,
            )
            for g in parsed.groups
        )
        return if_header.IfHeader(groups).render()

    @staticmethod
    def _canonical_tag(environ: Environ, tag: str) -> str:
        """The lock URL WsgiDAV uses for the resource a Resource-Tag names (the tag itself
        if it names none of ours: then its lists constrain nothing here)."""
        try:
            parts = urlsplit(tag)
            if parts.netloc and parts.netloc.lower() not in _request_hosts(environ):
                return tag
            path = decode_url_path(parts.path)
        except (ValueError, InvalidPathError):
            return tag
        split = split_share(path)
        if split is None:
            return tag
        _share, rest = split
        canonical = SHARES[0] + rest
        if not canonical.endswith("/") and _is_collection(environ, rest):
            canonical += "/"
        return quote(canonical)

    # --- bodies ----------------------------------------------------------------------------

    def _buffer_xml(self, environ: Environ) -> None:
        limit = self.limits.max_xml_body_bytes
        length = DavRequest(environ).declared_length
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if length is not None and length > limit:
            raise DAVError(
                HTTP_REQUEST_ENTITY_TOO_LARGE, context_info=f"XML bodies are limited to {limit}"
            )
        if not chunked and not length:
            return
        body = _read_at_most(GuardedInput(environ["wsgi.input"], None), length, limit + 1)
        if len(body) > limit:
            raise DAVError(
                HTTP_REQUEST_ENTITY_TOO_LARGE, context_info=f"XML bodies are limited to {limit}"
            )
        environ["wsgidav.some_input_read"] = 1
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if body:
            try:
                check_xml(body, max_depth=self.limits.max_xml_depth)
            except XMLRefusedError as exc:
                environ["wsgidav.all_input_read"] = 1
                raise bad_request(str(exc)) from exc

    def _guard_body(self, environ: Environ, method: str) -> None:
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if not chunked and not DavRequest(environ).declared_length:
            return
        if method in ("GET", "HEAD"):
            raise bad_request("GET/HEAD must not carry a body")
        limit = self.limits.max_put_bytes if method == "PUT" else None
        environ["wsgi.input"] = GuardedInput(environ["wsgi.input"], limit)

    # --- PROPFIND and LOCK ------------------------------------------------------------------

    def _check_propfind_depth(self, environ: Environ) -> None:
        environ.setdefault("HTTP_DEPTH", "infinity")
        if environ["HTTP_DEPTH"] != "infinity":
            return
        provider = environ.get("wsgidav.provider")
        if provider is None:
            return
        res = provider.get_resource_inst(environ.get("PATH_INFO") or "/", environ)
        if res is None or not res.is_collection:
            return
        if not self.limits.propfind_infinity:
            raise finite_depth("PROPFIND with Depth: infinity is disabled; use Depth: 1")
        cap = self.limits.max_propfind_results
        if _count_at_most(res, cap) > cap:
            raise finite_depth(f"more than {cap} resources below; use Depth: 1")

    @staticmethod
    def _check_refresh_owner(environ: Environ) -> None:
        parsed: if_header.IfHeader | None = environ.get("davsync.if")
        if parsed is None or DavRequest(environ).declared_length:
            return
        provider = environ.get("wsgidav.provider")
        lock_man = getattr(provider, "lock_manager", None)
        if lock_man is None:
            return
        user = DavRequest(environ).user
        for token in parsed.tokens():
            lock = lock_man.get_lock(token)
            if lock is not None and lock.get("principal") != user:
                raise DAVError(HTTP_FORBIDDEN, context_info="the lock belongs to another user")


def _is_collection(environ: Environ, share_path: str) -> bool:
    """True if ``share_path`` names a collection (every share serves the same tree)."""
    provider = environ.get("wsgidav.provider")
    if provider is None or not hasattr(provider, "ctx"):
        return False
    try:
        res = provider.get_resource_inst(share_path, environ)
    except DAVError:
        return False
    return bool(res is not None and res.is_collection)


def _request_hosts(environ: Environ) -> set[str]:
    hosts = {str(environ.get("HTTP_HOST", "")).lower()}
    forwarded = environ.get("HTTP_X_FORWARDED_HOST")
    if forwarded:
        hosts.add(str(forwarded).lower())
    return hosts


def _read_at_most(stream: GuardedInput, length: int | None, most: int) -> bytes:
    """Read the body (``length`` bytes, or to EOF if None), but never more than ``most``."""
    want = most if length is None else min(length, most)
    parts: list[bytes] = []
    got = 0
    while got < want:
        chunk = stream.read(min(_READ_BLOCK, want - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _count_at_most(res: _DAVResource, cap: int) -> int:
    """The number of resources below ``res`` (itself excluded), counting no further than
    ``cap + 1``."""
    count = 0
    stack = [res]
    while stack and count <= cap:
        current = stack.pop()
        for member in current.get_member_list():
            count += 1
            if count > cap:
                break
            if member.is_collection:
                stack.append(member)
    return count
