"""One FTP login's view of the server: WebDAV requests in-process, answers as Python values.

``DavSession`` holds what the FTP client logged in with (user, password, address, whether
the control connection is encrypted) and sends every request through ``InProcessClient``,
so each FTP command is checked by exactly the code that checks the same WebDAV request.
Failures are raised as ``DavRefusedError`` carrying the HTTP status and a short reason for the
FTP reply.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_tz
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from lxml import etree

from davserver.errors import DavserverError
from davserver.gateways.inprocess import Credentials, InProcessClient, Response

PROTOCOL = "ftp"
DAV_NS = "DAV:"
OC_NS = "http://owncloud.org/ns"
FILES_PREFIX = "/dav/files/"
UPLOADS_PREFIX = "/dav/uploads/"

_PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
    b"<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/>"
    b"<oc:checksums/></d:prop></d:propfind>"
)

_REASONS = {
    401: "Not logged in or password no longer valid",
    403: "Permission denied",
    404: "No such file or directory",
    405: "Not allowed here",
    409: "The parent folder does not exist",
    412: "Precondition failed",
    413: "File too large",
    415: "Not supported",
    423: "The file is locked",
    429: "Too many requests; try again later",
    507: "Insufficient storage",
}


class DavRefusedError(DavserverError):
    """The server refused a request. ``status``: its HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Entry:
    """One PROPFIND response: a file or a folder, with its hashes (``sha1`` … lower-case)."""

    path: str
    is_dir: bool
    size: int = 0
    mtime: float = 0.0
    etag: str = ""
    hashes: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The last path segment."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def refusal(response: Response, what: str) -> DavRefusedError:
    """A ``DavRefusedError`` for an unexpected answer to ``what``."""
    reason = _REASONS.get(response.status)
    if reason is None:
        said = response.explanation()
        reason = f"{what} failed (HTTP {response.status}" + (f": {said})" if said else ")")
    return DavRefusedError(response.status, reason)


def parse_checksums(text: str) -> dict[str, str]:
    """``SHA1:<hex> MD5:<hex> SHA256:<hex>`` -> ``{"sha1": ..., "md5": ..., ...}``."""
    found: dict[str, str] = {}
    for item in text.split():
        algo, sep, value = item.partition(":")
        if sep and value:
            found[algo.lower().replace("-", "")] = value.lower()
    return found


def _http_time(text: str | None) -> float:
    parsed = parsedate_tz(text) if text else None
    if parsed is None:
        return 0.0
    return float(calendar.timegm(parsed[:9])) - (parsed[9] or 0)


def parse_multistatus(body: bytes) -> list[Entry]:
    """The entries of a PROPFIND answer, in the order the server sent them."""
    root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False))
    entries: list[Entry] = []
    for response in root.iter(f"{{{DAV_NS}}}response"):
        href = response.findtext(f"{{{DAV_NS}}}href") or ""
        path = unquote(urlsplit(href).path)
        props: dict[str, etree._Element] = {}
        for propstat in response.iter(f"{{{DAV_NS}}}propstat"):
            status = propstat.findtext(f"{{{DAV_NS}}}status") or ""
            if " 200 " not in status + " ":
                continue
            prop = propstat.find(f"{{{DAV_NS}}}prop")
            for child in prop if prop is not None else ():
                props[str(child.tag)] = child
        rtype = props.get(f"{{{DAV_NS}}}resourcetype")
        is_dir = rtype is not None and rtype.find(f"{{{DAV_NS}}}collection") is not None
        length = props.get(f"{{{DAV_NS}}}getcontentlength")
        modified = props.get(f"{{{DAV_NS}}}getlastmodified")
        etag = props.get(f"{{{DAV_NS}}}getetag")
        sums = props.get(f"{{{OC_NS}}}checksums")
        entries.append(
            Entry(
                path=path.rstrip("/") or "/",
                is_dir=is_dir,
                size=int(length.text) if length is not None and length.text else 0,
                mtime=_http_time(modified.text if modified is not None else None),
                etag=(etag.text or "").strip('"') if etag is not None else "",
                hashes=parse_checksums(" ".join(sums.itertext())) if sums is not None else {},
            )
        )
    return entries


class DavSession:
    """WebDAV requests on behalf of one logged-in FTP user (see the module docstring)."""

    def __init__(
        self,
        client: InProcessClient,
        credentials: Credentials,
        client_addr: str,
        secure: bool,
        *,
        max_put_bytes: int | None = None,
    ) -> None:
        self.client = client
        self.credentials = credentials
        self.client_addr = client_addr
        self.secure = secure
        self.max_put_bytes = max_put_bytes
        """The server's ``limits.max_put_bytes``: the largest body of one PUT (one chunk)."""

    @property
    def user(self) -> str:
        """The login name."""
        return self.credentials.user

    @property
    def home(self) -> str:
        """The user's files folder, without a trailing slash."""
        return FILES_PREFIX + self.user

    @property
    def uploads(self) -> str:
        """The user's upload-session folder, without a trailing slash."""
        return UPLOADS_PREFIX + self.user

    def url_of(self, path: str) -> str:
        """The absolute URL of ``path`` as the application sees it (for ``Destination``)."""
        scheme = "https" if self.secure else "http"
        client = self.client
        authority = f"{client.host}:{client.port}" if client.port else client.host
        return f"{scheme}://{authority}{quote(path)}"

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
        length: int | None = None,
        stream: bool = False,
    ) -> Response:
        """One in-process request with this login's credentials and address."""
        if body is None and method not in ("GET", "HEAD"):
            body = b""  # an explicit empty body, as an HTTP client sends
        return self.client.request(
            method,
            path,
            credentials=self.credentials,
            client_addr=self.client_addr,
            protocol=PROTOCOL,
            secure=self.secure,
            headers=headers,
            body=body,
            length=length,
            stream=stream,
        )

    def propfind(self, path: str, depth: int) -> list[Entry]:
        """PROPFIND ``path`` with ``Depth`` 0 or 1; raises ``DavRefusedError`` (404 if absent)."""
        answer = self.request(
            "PROPFIND",
            path,
            headers={"Depth": str(depth), "Content-Type": "application/xml"},
            body=_PROPFIND_BODY,
        )
        if answer.status != 207:
            raise refusal(answer, "PROPFIND")
        return parse_multistatus(answer.body)

    def entry(self, path: str) -> Entry | None:
        """The entry at ``path``, or None if there is nothing there."""
        try:
            found = self.propfind(path, 0)
        except DavRefusedError as exc:
            if exc.status == 404:
                return None
            raise
        return found[0] if found else None

    def expect(self, answer: Response, what: str, *ok: int) -> Response:
        """``answer`` if its status is one of ``ok``, else raise ``DavRefusedError``."""
        if answer.status not in ok:
            raise refusal(answer, what)
        return answer

    def download(self, path: str, offset: int = 0) -> Response:
        """A streamed GET of ``path`` from byte ``offset`` (caller closes the response)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        answer = self.request("GET", path, headers=headers, stream=True)
        if answer.status not in (200, 206):
            answer.close()
            raise refusal(answer, "GET")
        if offset and answer.status == 200:
            answer.close()
            raise DavRefusedError(416, "The server could not resume at that offset")
        return answer


def body_chunks(answer: Response) -> Iterator[bytes]:
    """The body of a streamed ``answer``."""
    if answer.chunks is not None:
        yield from answer.chunks
    elif answer.body:
        yield answer.body


class ChunkStream:
    """A read-only binary stream over an iterator of byte strings (a streamed answer)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all remaining when negative); ``b""`` at the end."""
        while size < 0 or len(self._buffer) < size:
            piece = next(self._chunks, None)
            if piece is None:
                break
            self._buffer += piece
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
