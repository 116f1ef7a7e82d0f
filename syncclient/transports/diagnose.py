"""Turning a failed request into a sentence that names the cause and the fix.

Pure text builders plus one small network check (``speaks_tls``), used by the WebDAV
transport when a request fails in a way a new user typically hits first: an untrusted
(self-signed) certificate, ``http://`` sent to a TLS port or ``https://`` to a plain one, a
URL that is not a folder of the server, a login with no password configured, and a busy
server's own explanation (429/503 bodies).
"""

from __future__ import annotations

import html
import re
import socket
import ssl
from urllib.parse import urlsplit

# how the config file and the flags spell the settings the advice names
CA_BUNDLE_FIX = (
    "give the server's CA certificate (PEM) with --ca-bundle FILE, or set "
    'ca_bundle = "FILE" under [server] in the config file'
)
LOGIN_FIX = (
    "give --user NAME and --password-file FILE, or set user and password_file under [server] "
    "in the config file (or the SYNCCLIENT_PASSWORD environment variable)"
)
MAX_EXPLANATION = 200
_TAG = re.compile(r"<[^>]+>")
_PARAGRAPH = re.compile(r"<p\b[^>]*>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def chain_text(exc: BaseException) -> str:
    """The messages of ``exc`` and every exception it was raised from, joined."""
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {cur}")
        cur = cur.__cause__ or cur.__context__
    return " | ".join(parts)


def is_untrusted_certificate(exc: BaseException) -> bool:
    """Whether the failure is a certificate the client does not trust."""
    text = chain_text(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSLCertVerificationError" in text


def is_plain_http_on_tls(exc: BaseException) -> bool:
    """Whether an ``https://`` request got a non-TLS answer (the port speaks plain HTTP)."""
    text = chain_text(exc)
    return "WRONG_VERSION_NUMBER" in text or "record layer failure" in text


def untrusted_certificate(url: str, exc: BaseException) -> str:
    """The sentence for a certificate verification failure."""
    reason = _verify_reason(chain_text(exc))
    return (
        f"the server's TLS certificate for {_origin(url)} is not trusted ({reason}); if the "
        f"server uses a self-signed or private CA certificate, {CA_BUNDLE_FIX}"
    )


def _verify_reason(text: str) -> str:
    m = re.search(r"certificate verify failed: ([^(]+?)\s*\(", text)
    return m.group(1).strip() if m else "certificate verify failed"


def tls_port_for_http(url: str) -> str:
    """The sentence for ``http://`` sent to a port that speaks TLS."""
    return (
        f"the server at {_origin(url)} speaks TLS (HTTPS) on this port; use "
        f"{swap_scheme(url, 'https')}"
    )


def plain_port_for_https(url: str) -> str:
    """The sentence for ``https://`` sent to a port that speaks plain HTTP."""
    return (
        f"the server at {_origin(url)} does not speak TLS on this port; use "
        f"{swap_scheme(url, 'http')} or the server's HTTPS port"
    )


def swap_scheme(url: str, scheme: str) -> str:
    """``url`` with its scheme replaced."""
    return scheme + url[url.index(":") :]


def _origin(url: str) -> str:
    s = urlsplit(url)
    return f"{s.scheme}://{s.netloc}"


def speaks_tls(url: str, timeout: float = 5.0) -> bool:
    """Whether the host and port of ``url`` complete a TLS handshake (certificate not
    checked: this only asks which protocol the port speaks)."""
    s = urlsplit(url)
    if not s.hostname:
        return False
    port = s.port or (443 if s.scheme == "https" else 80)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((s.hostname, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=s.hostname),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def speaks_plain_http(url: str, timeout: float = 5.0) -> bool:
    """Whether the host and port of ``url`` answer a plain-HTTP request (asked after a TLS
    handshake failed without a clear reason: a server may just close the connection on a
    TLS ClientHello instead of answering it with an HTTP error)."""
    s = urlsplit(url)
    if not s.hostname:
        return False
    port = s.port or (443 if s.scheme == "https" else 80)
    try:
        with socket.create_connection((s.hostname, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            raw.sendall(
                b"OPTIONS * HTTP/1.1\r\nHost: " + s.hostname.encode("idna") + b"\r\n"
                b"Connection: close\r\n\r\n"
            )
            return raw.recv(5) == b"HTTP/"
    except (OSError, UnicodeError):
        return False


def folder_url_hint(url: str, user: str | None) -> str:
    """Which URL to use instead of ``url``: the user's folder on this server."""
    s = urlsplit(url)
    who = user or "<user>"
    return f"{s.scheme}://{s.netloc}/remote.php/dav/files/{who}/<folder>/"


def not_a_folder(url: str, user: str | None, why: str) -> str:
    """The sentence for a URL that is not a folder the client can write to."""
    return (
        f"{url} is not a folder of the server that files can be sent to ({why}); the target "
        f"URL is the folder below your files on the server, for davsync "
        f"{folder_url_hint(url, user)} (the same URL works without /remote.php; the legacy "
        "/remote.php/webdav/ of older Nextcloud clients is the logged-in user's home itself)"
    )


def server_explanation(content_type: str, body: bytes) -> str:
    """A short, single-line text a server sent with an error, or ``""``. Of an HTML page
    only its paragraphs count when it has any (an error page's title, heading and footer
    repeat the status or name the server's software); entities are decoded."""
    if not body:
        return ""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in (
        "text/plain",
        "text/html",
        "application/xml",
        "text/xml",
        "application/json",
        "",
    ):
        return ""
    text = body[:4096].decode("utf-8", errors="replace")
    if kind != "text/plain":
        paragraphs = _PARAGRAPH.findall(text) if kind == "text/html" else []
        text = html.unescape(_TAG.sub(" ", " ".join(paragraphs) if paragraphs else text))
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_EXPLANATION:
        text = text[: MAX_EXPLANATION - 3] + "..."
    return text
