"""The outermost WSGI layer: what every request must satisfy before any handler sees it.

``RequestGuard`` wraps the whole application (WsgiDAV and anything else mounted later). It
does no I/O beyond the request's own headers and needs no WebDAV knowledge:

- **Forwarded headers.** ``X-Forwarded-For``, ``-Proto``, ``-Host`` and ``Forwarded`` are
  believed only when the connection comes from one of ``trusted_proxies``. Then the client
  address (the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy)
  becomes ``REMOTE_ADDR``, so login throttling counts real clients, and ``X-Forwarded-Proto``
  (``http``/``https`` only) becomes ``wsgi.url_scheme``. From anybody else the headers are
  removed, so nobody can spoof an address, claim HTTPS or steer the Destination host check.
- **Request path.** The percent-encoded path of ``REQUEST_URI`` must pass
  ``providers.paths.decode_url_path`` (no encoded separators, dot segments, NUL or control
  characters, malformed escapes or invalid UTF-8), else 400.
- **Destination.** A ``Destination`` header must be an ``http(s)`` URL or an absolute path
  whose path passes the same policy, else 400 (which host and share it names is checked by
  WsgiDAV and the access middleware).
- **Header values.** A header value carrying NUL is refused (400): RFC 9110 calls NUL in a
  field value invalid and dangerous, and no store of state (PostgreSQL text) can hold it, so
  a lock token in ``If`` or ``Lock-Token`` never reaches a lookup with it.
- **Framing.** HTTP/1.1 requests need ``Host``; ``Content-Length`` must be plain digits and
  must not come with ``Transfer-Encoding``; an HTTP/1.0 request must not carry
  ``Transfer-Encoding`` (RFC 9112 section 6.1: its framing is faulty; cheroot ignored the
  chunked body, so a PUT stored an empty file and answered 201). Anything else is 400. An
  HTTP/1.0 PUT or POST without ``Content-Length`` is 411: its body would run until the
  connection closes, which cheroot does not read (it stored an empty file and answered 201).
- **HEAD.** A response to HEAD never carries a body (WsgiDAV's error pages do, which on a
  kept-alive connection would be read as the next response).

Refusals are short ``text/plain`` responses with ``Connection: close`` (the body, if any, is
never read). The guard raises nothing; it never answers 5xx.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from davserver.errors import DavserverError
from davserver.http.environ import StartResponse, WSGIApp
from providers.errors import InvalidPathError
from providers.paths import decode_url_path

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_log = logging.getLogger(__name__)

FORWARDED_KEYS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)
_DIGITS = re.compile(r"[0-9]{1,20}")
_BODY_METHODS = frozenset({"PUT", "POST"})
"""Methods whose HTTP/1.0 requests must announce their body length (RFC 1945 section 7.2.2)."""
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(:[0-9]{1,5})?")


class RefusedError(DavserverError):
    """A request the guard refuses; ``str()`` is the reason sent to the client."""

    status = "400 Bad Request"


class LengthRequiredError(RefusedError):
    """A request whose body length cannot be known (an HTTP/1.0 body without
    ``Content-Length`` runs until the connection closes, which cheroot does not read)."""

    status = "411 Length Required"


def parse_networks(items: Sequence[str]) -> tuple[IPNetwork, ...]:
    """IP networks for ``items`` (addresses or CIDR). Raises ValueError for a bad item."""
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _headers_only(
    app: WSGIApp, environ: dict[str, Any], start_response: StartResponse
) -> Iterator[bytes]:
    """Run ``app`` until it has started its response, then drop the body."""
    started = False

    def observe(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        nonlocal started
        started = True
        if exc_info is None:
            return start_response(status, headers)
        return start_response(status, headers, exc_info)

    result = app(environ, observe)
    try:
        for _ in result:
            if started:
                break
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    yield from ()


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class RequestGuard:
    """See the module docstring. ``app`` is the application behind the guard."""

    def __init__(self, app: WSGIApp, *, trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        self.trusted = parse_networks(trusted_proxies)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            self._forwarded(environ)
            self._check(environ)
        except RefusedError as exc:
            return self._refuse(environ, start_response, exc)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return _headers_only(self.app, environ, start_response)
        return self.app(environ, start_response)

    # --- forwarded headers -----------------------------------------------------------------

    def is_trusted(self, addr: str | None) -> bool:
        """True if ``addr`` belongs to a configured proxy."""
        ip = _address(addr or "")
        return ip is not None and any(ip in net for net in self.trusted)

    def _forwarded(self, environ: dict[str, Any]) -> None:
        present = [k for k in FORWARDED_KEYS if k in environ]
        if not present:
            return
        if not self.is_trusted(environ.get("REMOTE_ADDR")):
            for key in present:
                del environ[key]
            return
        client = self._client_address(environ.get("HTTP_X_FORWARDED_FOR", ""))
        if client is not None:
            environ["davsync.proxy_addr"] = environ.get("REMOTE_ADDR")
            environ["REMOTE_ADDR"] = client
        proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
        elif proto:
            raise RefusedError("X-Forwarded-Proto must be http or https")
        host = environ.get("HTTP_X_FORWARDED_HOST")
        if host is not None and not _HOST.fullmatch(host.strip()):
            raise RefusedError("malformed X-Forwarded-Host")

    def _client_address(self, header: str) -> str | None:
        """The right-most address in ``header`` that is not a trusted proxy."""
        hops = [h.strip() for h in header.split(",") if h.strip()]
        for hop in reversed(hops):
            ip = _address(hop)
            if ip is None:
                raise RefusedError("malformed X-Forwarded-For")
            if not any(ip in net for net in self.trusted):
                return str(ip)
        return None

    # --- request line and headers ----------------------------------------------------------

    def _check(self, environ: dict[str, Any]) -> None:
        if environ.get("SERVER_PROTOCOL") == "HTTP/1.1" and not environ.get("HTTP_HOST"):
            raise RefusedError("HTTP/1.1 requests need a Host header")
        for key, value in environ.items():
            header = key.startswith("HTTP_") or key == "CONTENT_TYPE"
            if header and isinstance(value, str) and "\x00" in value:
                name = key.removeprefix("HTTP_").replace("_", "-").title()
                raise RefusedError(f"NUL in the {name} header")
        length = environ.get("CONTENT_LENGTH")
        if length not in (None, "") and not _DIGITS.fullmatch(str(length).strip()):
            raise RefusedError("malformed Content-Length")
        if length not in (None, "") and environ.get("HTTP_TRANSFER_ENCODING"):
            raise RefusedError("Content-Length and Transfer-Encoding together")
        if environ.get("SERVER_PROTOCOL") == "HTTP/1.0":
            if environ.get("HTTP_TRANSFER_ENCODING"):
                raise RefusedError("Transfer-Encoding in an HTTP/1.0 request")
            if length in (None, "") and environ.get("REQUEST_METHOD") in _BODY_METHODS:
                raise LengthRequiredError(
                    "an HTTP/1.0 PUT or POST must announce its Content-Length"
                )
        uri = str(environ.get("REQUEST_URI") or "")
        if uri:
            self._check_path(urlsplit(uri).path if "://" in uri else uri.split("?", 1)[0])
        else:
            self._check_path(reencoded_path_info(environ))
        destination = environ.get("HTTP_DESTINATION")
        if destination is not None:
            self._check_destination(str(destination))

    @staticmethod
    def _check_path(path: str) -> None:
        if path == "*":
            return
        if not path.startswith("/"):
            raise RefusedError("the request path must start with /")
        try:
            decode_url_path(path)
        except InvalidPathError as exc:
            raise RefusedError(f"invalid path: {exc}") from exc

    @staticmethod
    def _check_destination(value: str) -> None:
        value = value.strip()
        try:
            parts = urlsplit(value, allow_fragments=False)
            parts.port  # noqa: B018  (raises ValueError for a bad port)
        except ValueError as exc:
            raise RefusedError("malformed Destination") from exc
        if parts.scheme and parts.scheme.lower() not in ("http", "https"):
            raise RefusedError("Destination must be an http(s) URL or an absolute path")
        if parts.scheme and not parts.netloc:
            raise RefusedError("Destination URL without a host")
        if not parts.path.startswith("/"):
            raise RefusedError("Destination must name an absolute path")
        try:
            decode_url_path(parts.path)
        except InvalidPathError as exc:
            raise RefusedError(f"invalid Destination: {exc}") from exc

    # --- refusal ---------------------------------------------------------------------------

    @staticmethod
    def _refuse(
        environ: dict[str, Any], start_response: StartResponse, refusal: RefusedError
    ) -> list[bytes]:
        _log.warning(
            "refused %s request from %s: %s",
            str(environ.get("REQUEST_METHOD", "?"))[:16],
            environ.get("REMOTE_ADDR"),
            refusal,
        )
        body = f"{refusal.status.split(' ', 1)[1]}: {refusal}\n".encode()
        start_response(
            refusal.status,
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
        )
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def reencoded_path_info(environ: dict[str, Any]) -> str:
    """The request path in percent-encoded form for a host that sets no ``REQUEST_URI``
    (cheroot sets it; other WSGI hosts and in-process transports may not).

    ``PATH_INFO`` is already decoded (one character per byte, PEP 3333), so a literal ``%``
    or a non-ASCII name must be encoded again before ``decode_url_path`` sees it: decoding
    it a second time would misread ``100%25.txt`` as a malformed escape. Slashes and
    backslashes stay literal (an encoded separator cannot be told apart once decoded; that
    check needs ``REQUEST_URI``). A value that is not one character per byte is taken as
    text and encoded as UTF-8.
    """
    path = str(environ.get("SCRIPT_NAME") or "") + str(environ.get("PATH_INFO") or "")
    try:
        data = path.encode("latin-1")
    except UnicodeEncodeError:
        data = path.encode("utf-8")
    return quote(data, safe="/\\")
