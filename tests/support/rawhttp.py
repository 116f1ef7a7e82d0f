"""Raw HTTP/1.1 over a loopback socket, for requests no well-behaved client library sends."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

READ_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


@dataclass
class RawResponse:
    """A parsed response, or ``status == 0`` if the server closed without answering."""

    status: int
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw: bytes = b""

    @property
    def dropped(self) -> bool:
        """True if the connection was closed (or timed out) without a status line."""
        return self.status == 0


def basic(user: str, password: str) -> str:
    """An ``Authorization`` header value for Basic credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def build(
    method: str,
    target: str,
    *,
    host: str,
    headers: list[str] | None = None,
    body: bytes = b"",
    auth: str | None = None,
    content_length: bool = True,
) -> bytes:
    """A request with ``Connection: close``, and a Content-Length for a body unless told not
    to or the headers already frame it (Content-Length or Transfer-Encoding)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    if auth is not None:
        lines.append(f"Authorization: {auth}")
    lines += headers or []
    framed = any(h.lower().startswith(("content-length", "transfer-encoding")) for h in lines)
    if body and content_length and not framed:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse(data: bytes) -> RawResponse:
    """Parse the first response in ``data`` (status 0 if there is none)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/"):
        return RawResponse(0, raw=data)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return RawResponse(0, raw=data)
    return RawResponse(status, parts[2] if len(parts) > 2 else "", headers, body, data)


def exchange(
    url: str, request: bytes, *, timeout: float = READ_TIMEOUT_S, half_close: bool = True
) -> RawResponse:
    """Send ``request`` to the server of ``url`` and read until it closes the connection.

    ``half_close``: shut the sending side after the request, so a server waiting for more
    body bytes sees the end of the stream at once.
    """
    u = urlsplit(url)
    assert u.hostname is not None and u.port is not None
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse and close before reading everything
        chunks: list[bytes] = []
        size = 0
        try:
            while size < MAX_RESPONSE_BYTES:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return parse(b"".join(chunks))


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def digest(url: str, user: str, password: str, method: str, target: str) -> str:
    """A Digest ``Authorization`` value for ``method target``, from a fresh challenge.

    The challenge comes from an unauthenticated PROPFIND of the area index, and the header
    uses it once (qop=auth, nc=1), as a browser would.
    """
    u = urlsplit(url)
    probe = build("PROPFIND", "/remote.php/dav/files/", host=u.netloc, headers=["Depth: 0"])
    challenge = exchange(url, probe).headers.get("www-authenticate", "")
    params = dict(_CHALLENGE_PARAM.findall(challenge))
    realm, nonce = params["realm"], params["nonce"]
    cnonce = secrets.token_hex(8)
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{target}".encode("latin-1")).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{target}", '
        f'algorithm=MD5, qop=auth, nc=00000001, cnonce="{cnonce}", response="{response}"'
    )
