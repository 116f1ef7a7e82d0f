"""In-process WebDAV requests: the single policy path for every gateway.

``InProcessClient.request`` builds a WSGI environ as cheroot would for the same request and
calls the server's whole application (``App.wsgi``: the request guard, authentication and
throttling, access control, limits, WsgiDAV and the davsync provider). The gateway supplies
the credentials its own protocol received and the client's real address, so a wrong
password counts against that address exactly like an HTTP login, and every commit is
journalled with the gateway's protocol name (``environ["davsync.protocol"]``).

Contract:
- ``path`` is the decoded URL path (``/dav/files/alice/in/a b.csv``); it is percent-encoded
  here. Query strings go in ``query``.
- ``body`` is ``bytes``, or a binary file-like object read until EOF. A stream without
  ``length`` is sent as a chunked body (the server streams it to staging as it would a
  chunked PUT); with ``length`` as a ``Content-Length`` body of its first ``length`` bytes
  (the application never reads past them, as with cheroot).
- The response body is read completely into ``Response.body`` (``stream=False``, for small
  answers) or handed out as an iterator that the caller must close (``stream=True``).
- The gateway is responsible for its own transport security: ``secure=True`` tells the
  application that the credentials travelled over TLS (Basic is then accepted as over HTTPS).
"""

from __future__ import annotations

import base64
import html
import io
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote

from davserver.collection.origin import PROTOCOL_KEY
from davserver.http.environ import WSGIApp

__all__ = ["PROTOCOL_KEY", "Credentials", "InProcessClient", "Response"]

_ERROR_TEXT = re.compile(r"<pre>(.*?)</pre>|<p>(.*?)</p>", re.S)


@dataclass(frozen=True)
class Credentials:
    """A login as the gateway received it."""

    user: str
    password: str

    def basic(self) -> str:
        """The ``Authorization`` header value for these credentials."""
        token = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")


@dataclass
class Response:
    """Status, headers (names lower-cased) and body of an in-process request."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes = b""
    chunks: Iterator[bytes] | None = field(default=None, repr=False)
    _closer: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300

    def explanation(self, limit: int = 300) -> str:
        """The server's own short reason for this answer (the message of its HTML error
        page, or a plain-text body), without the repeated status; "" when there is none."""
        text = self.body[:4000].decode("utf-8", "replace")
        match = _ERROR_TEXT.search(text)
        found = (match.group(1) or match.group(2)) if match else text
        if not match and found.lstrip().startswith("<"):
            return ""  # markup without an error message (a multistatus, a page)
        found = html.unescape(re.sub(r"<[^>]+>", "", found)).strip()
        for status in (f"{self.status} {self.reason}:", f"{self.reason}:"):
            found = found.removeprefix(status).strip()
        return found[:limit]

    def close(self) -> None:
        """Release a streamed response (idempotent)."""
        closer, self._closer = self._closer, None
        if closer is not None:
            closer()


class _UntilEOF(io.RawIOBase):
    """``wsgi.input`` over a stream read until EOF (a decoded chunked body, as cheroot's)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._stream.read()
        return self._stream.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        return self._stream.readline(-1 if size is None else size)


class InProcessClient:
    """Sends WebDAV requests to ``app`` as if they came from a client at ``client_addr``.

    ``host``/``port`` are what the application sees as the server address (used for the
    ``Host`` header and absolute URLs in answers).
    """

    def __init__(self, app: WSGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port

    def request(
        self,
        method: str,
        path: str,
        *,
        credentials: Credentials | None,
        client_addr: str,
        protocol: str,
        secure: bool,
        headers: Mapping[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
        length: int | None = None,
        query: str = "",
        stream: bool = False,
    ) -> Response:
        """Run one request through the whole application; see the module docstring."""
        environ = self._environ(method, path, query, client_addr, protocol, secure)
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                environ["HTTP_" + key] = value
        if credentials is not None:
            environ["HTTP_AUTHORIZATION"] = credentials.basic()
        self._attach_body(environ, body, length)
        captured: dict[str, Any] = {}

        def start_response(
            status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            captured["status"] = status
            captured["headers"] = response_headers
            return lambda _data: None

        result = self.app(environ, start_response)
        iterator = iter(result)
        try:
            first = next(iterator, b"")
        except BaseException:
            _close(result)
            raise
        status_line = str(captured.get("status", "500 Internal Server Error"))
        code, _, reason = status_line.partition(" ")
        response = Response(
            status=int(code),
            reason=reason,
            headers={k.lower(): v for k, v in captured.get("headers", [])},
        )
        if stream:
            response.chunks = _prepend(first, iterator)
            response._closer = lambda: _close(result)
            return response
        try:
            response.body = first + b"".join(iterator)
        finally:
            _close(result)
        return response

    def _environ(
        self, method: str, path: str, query: str, client_addr: str, protocol: str, secure: bool
    ) -> dict[str, Any]:
        encoded = quote(path, safe="/!$&'()*+,;=:@~")
        host = f"{self.host}:{self.port}" if self.port else self.host
        return {
            "REQUEST_METHOD": method.upper(),
            "SCRIPT_NAME": "",
            # As cheroot does: the unquoted path, its UTF-8 bytes seen as latin-1.
            "PATH_INFO": path.encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query,
            "REQUEST_URI": encoded + ("?" + query if query else ""),
            "SERVER_NAME": self.host,
            "SERVER_PORT": str(self.port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_SOFTWARE": "davsync-gateway",
            "REMOTE_ADDR": client_addr,
            "REMOTE_PORT": "0",
            "HTTP_HOST": host,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if secure else "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            PROTOCOL_KEY: protocol,
        }

    @staticmethod
    def _attach_body(
        environ: dict[str, Any], body: bytes | BinaryIO | None, length: int | None
    ) -> None:
        if body is None:
            environ["wsgi.input"] = io.BytesIO(b"")
            if environ["REQUEST_METHOD"] in ("PUT", "POST", "PATCH"):
                environ.setdefault("CONTENT_LENGTH", "0")
            return
        if isinstance(body, bytes | bytearray):
            environ["wsgi.input"] = io.BytesIO(bytes(body))
            environ["CONTENT_LENGTH"] = str(len(body))
            return
        if length is not None:
            environ["wsgi.input"] = _KnownLength(body, length)
            environ["CONTENT_LENGTH"] = str(length)
            return
        environ["wsgi.input"] = _UntilEOF(body)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ.pop("CONTENT_LENGTH", None)


class _KnownLength(_UntilEOF):
    """``wsgi.input`` over the first ``length`` bytes of a longer stream, as cheroot bounds a
    body by its Content-Length (a read never returns bytes past it)."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        super().__init__(stream)
        self._left = length

    def read(self, size: int | None = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(want) if want else b""
        self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.readline(want) if want else b""
        self._left -= len(data)
        return data


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _close(result: Iterable[bytes]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()
