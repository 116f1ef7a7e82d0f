"""Replays of Windows Explorer's WebDAV redirector (``Microsoft-WebDAV-MiniRedir``).

Explorer cannot run here, so the lab sends the request sequences it is documented to send
(docs/COMPATIBILITY.md cites the captures) with its headers and User-Agent, and checks the
response details Explorer is known to depend on:

- ``OPTIONS`` on ``/`` and on every path segment of the mapped URL: ``DAV`` with classes 1
  and 2, ``MS-Author-Via: DAV``;
- ``PROPFIND`` of ``/`` and of each segment (``Depth: 0``, empty body), collections addressed
  without a trailing slash: a 207, never a redirect;
- a plain ``404`` (not 207, 403 or 409) for a missing path, as Explorer probes
  ``desktop.ini`` and friends;
- multistatus XML with the ``D:`` prefix bound to ``DAV:`` (the Vista/7 client cannot read a
  default ``xmlns="DAV:"``), RFC 1123 ``getlastmodified`` and ``Z``-suffixed ``creationdate``;
- the upload sequence: PROPFIND (404), 0-byte PUT, LOCK without ``Depth``, PROPPATCH of the
  four ``Win32*`` properties (each answered 200 in a namespaced element), HEAD, PUT of the
  data, PROPPATCH, UNLOCK; then rename (MOVE, ``Overwrite: F``) and delete.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from lxml import etree

USER_AGENT = "Microsoft-WebDAV-MiniRedir/10.0.19045"
DAV_NS = "DAV:"
MS_NS = "urn:schemas-microsoft-com:"

# Headers the redirector sends on every request (captures in docs/COMPATIBILITY.md).
BASE_HEADERS = {
    "User-Agent": USER_AGENT,
    "translate": "f",
    "Connection": "Keep-Alive",
    "Cache-Control": "no-cache",
    "Pragma": "no-cache",
}

XML_CONTENT_TYPE = 'text/xml; charset="utf-8"'

LOCK_BODY = (
    '<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope>'
    "<D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>"
    "<D:href>WORKGROUP\\{user}</D:href></D:owner></D:lockinfo>"
)

# A Depth 1 listing asking, by name, for the properties the redirector reads, the
# Microsoft ones included (its path walk itself sends empty bodies, i.e. allprop).
LIST_BODY = (
    '<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:">'
    '<D:prop xmlns:Z="urn:schemas-microsoft-com:"><D:resourcetype/><D:getcontentlength/>'
    "<Z:Win32FileAttributes/><D:getlastmodified/><D:creationdate/><Z:Win32LastModifiedTime/>"
    "<Z:Win32CreationTime/><Z:Win32LastAccessTime/><D:displayname/><D:getetag/>"
    "<D:lockdiscovery/></D:prop></D:propfind>"
)

RFC1123 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$"
)
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")


def http_date(when: datetime) -> str:
    """RFC 1123 date as the redirector writes it (``Thu, 09 Oct 2025 17:54:43 GMT``)."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


def win32_proppatch_body(
    *,
    created: datetime | None = None,
    accessed: datetime | None = None,
    modified: datetime | None = None,
    attributes: str | None = None,
) -> str:
    """The PROPPATCH body Explorer sends after creating or writing a file."""
    props = []
    if created is not None:
        props.append(f"<Z:Win32CreationTime>{http_date(created)}</Z:Win32CreationTime>")
    if accessed is not None:
        props.append(f"<Z:Win32LastAccessTime>{http_date(accessed)}</Z:Win32LastAccessTime>")
    if modified is not None:
        props.append(f"<Z:Win32LastModifiedTime>{http_date(modified)}</Z:Win32LastModifiedTime>")
    if attributes is not None:
        props.append(f"<Z:Win32FileAttributes>{attributes}</Z:Win32FileAttributes>")
    return (
        '<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" '
        'xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
        + "".join(props)
        + "</D:prop></D:set></D:propertyupdate>"
    )


@dataclass
class Step:
    """One request of a replayed sequence and its response."""

    name: str
    method: str
    path: str
    response: httpx.Response

    @property
    def status(self) -> int:
        """The response status code."""
        return self.response.status_code


@dataclass
class MiniRedir:
    """A client that speaks like Explorer's redirector to ``origin`` (``http://host:port``)."""

    origin: str
    auth: httpx.Auth
    verify: Any = True
    user: str = "user"
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.origin = self.origin.rstrip("/")
        self.client = httpx.Client(
            auth=self.auth,
            verify=self.verify,
            follow_redirects=False,
            timeout=60.0,
            headers=BASE_HEADERS,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def url(self, path: str) -> str:
        """Absolute URL of a decoded path, percent-encoded the way the redirector does."""
        return self.origin + quote(path, safe="/")

    def request(
        self,
        name: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
    ) -> httpx.Response:
        """Send one request and record it as a step."""
        content = body.encode("utf-8") if isinstance(body, str) else body
        hdrs = dict(headers or {})
        if content is None and method in ("PROPFIND", "PUT", "OPTIONS"):
            content = b""
        response = self.client.request(method, self.url(path), headers=hdrs, content=content)
        self.steps.append(Step(name, method, path, response))
        return response

    # --- single requests --------------------------------------------------------------------

    def options(self, path: str) -> httpx.Response:
        """``OPTIONS path`` (no body)."""
        return self.request(f"OPTIONS {path}", "OPTIONS", path)

    def propfind(self, path: str, depth: str = "0", body: str | None = None) -> httpx.Response:
        """``PROPFIND`` with an empty body (allprop), or ``body``."""
        headers = {"Depth": depth}
        if body is not None:
            headers["Content-Type"] = XML_CONTENT_TYPE
        return self.request(f"PROPFIND {path}", "PROPFIND", path, headers=headers, body=body)

    def put(self, path: str, data: bytes, lock_token: str | None = None) -> httpx.Response:
        """``PUT`` (with ``If: (<token>)`` when the file is locked)."""
        headers = {"Content-Type": "application/octet-stream"}
        if lock_token:
            headers["If"] = f"(<{lock_token}>)"
        return self.request(
            f"PUT {path} ({len(data)} bytes)", "PUT", path, headers=headers, body=data
        )

    def lock(self, path: str) -> httpx.Response:
        """``LOCK`` as the redirector sends it: no ``Depth`` header, one hour."""
        headers = {"Content-Type": XML_CONTENT_TYPE, "Timeout": "Second-3600"}
        return self.request(
            f"LOCK {path}", "LOCK", path, headers=headers, body=LOCK_BODY.format(user=self.user)
        )

    def proppatch(self, path: str, body: str, lock_token: str | None = None) -> httpx.Response:
        """``PROPPATCH`` with ``body``."""
        headers = {"Content-Type": XML_CONTENT_TYPE}
        if lock_token:
            headers["If"] = f"(<{lock_token}>)"
        return self.request(f"PROPPATCH {path}", "PROPPATCH", path, headers=headers, body=body)

    def head(self, path: str) -> httpx.Response:
        """``HEAD path``."""
        return self.request(f"HEAD {path}", "HEAD", path)

    def get(self, path: str) -> httpx.Response:
        """``GET path``."""
        return self.request(f"GET {path}", "GET", path)

    def unlock(self, path: str, token: str) -> httpx.Response:
        """``UNLOCK`` with ``Lock-Token: <token>``."""
        return self.request(f"UNLOCK {path}", "UNLOCK", path, headers={"Lock-Token": f"<{token}>"})

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> httpx.Response:
        """Rename: ``MOVE`` with an absolute ``Destination`` and ``Overwrite: F``."""
        headers = {"Destination": self.url(dst), "Overwrite": "T" if overwrite else "F"}
        return self.request(f"MOVE {src} -> {dst}", "MOVE", src, headers=headers)

    def delete(self, path: str) -> httpx.Response:
        """``DELETE path``."""
        return self.request(f"DELETE {path}", "DELETE", path)

    # --- sequences --------------------------------------------------------------------------

    def map_drive(self, share_path: str) -> list[Step]:
        """What ``net use`` / "Map network drive" sends for ``share_path``: OPTIONS on ``/``,
        PROPFIND of ``/``, then OPTIONS and PROPFIND (Depth 0, no trailing slash) of each path
        segment down to the share, and a Depth 1 listing of the share."""
        start = len(self.steps)
        self.options("/")
        self.propfind("/")
        segments = [s for s in share_path.strip("/").split("/") if s]
        for i in range(1, len(segments) + 1):
            path = "/" + "/".join(segments[:i])
            self.options(path)
            self.propfind(path)
        self.propfind("/" + "/".join(segments) + "/", depth="1", body=LIST_BODY)
        return self.steps[start:]

    def upload(self, path: str, data: bytes, *, modified: datetime) -> list[Step]:
        """Explorer's copy of a new file into a folder (mar10/wsgidav#112 sequence)."""
        start = len(self.steps)
        created = datetime.now(UTC).replace(microsecond=0)
        self.propfind(path)  # expected 404: the file does not exist yet
        self.put(path, b"")
        lock = self.lock(path)
        token = lock_token(lock)
        self.proppatch(
            path,
            win32_proppatch_body(
                created=created, accessed=created, modified=created, attributes="00000000"
            ),
            token,
        )
        self.head(path)
        self.put(path, data, token)
        self.proppatch(path, win32_proppatch_body(modified=modified, attributes="00000020"), token)
        if token:
            self.unlock(path, token)
        return self.steps[start:]


@contextmanager
def miniredir(
    origin: str, auth: httpx.Auth, verify: Any = True, user: str = "user"
) -> Iterator[MiniRedir]:
    """A ``MiniRedir`` that is closed afterwards."""
    client = MiniRedir(origin, auth, verify, user)
    try:
        yield client
    finally:
        client.close()


def lock_token(response: httpx.Response) -> str | None:
    """The token of a ``Lock-Token: <...>`` response header, or None."""
    raw = response.headers.get("Lock-Token", "").strip()
    return raw[1:-1] if raw.startswith("<") and raw.endswith(">") else (raw or None)


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# --- response checks (each returns a list of problems; empty means Explorer is happy) -------


def xml_problems(body: bytes) -> list[str]:
    """Problems Explorer has with a multistatus body: the DAV namespace must be bound to the
    ``D`` prefix (no default namespace), every element must have a prefix, and Microsoft
    properties must be namespaced with a declared prefix (never ``<urn:...:Win32...>``)."""
    problems: list[str] = []
    text = body.decode("utf-8", errors="replace")
    if re.search(r"""xmlns\s*=\s*["']DAV:["']""", text):
        problems.append('default namespace xmlns="DAV:" (the Vista/7 redirector needs D:)')
    if "<urn:" in text or "</urn:" in text:
        problems.append("element name with a raw urn: prefix")
    root = etree.fromstring(body)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        qname = etree.QName(el)
        if qname.namespace is None:
            problems.append(f"element {qname.localname} has no namespace")
            continue
        if el.prefix is None:
            problems.append(f"element {el.tag} uses a default namespace, not a prefix")
        elif qname.namespace == DAV_NS and el.prefix != "D":
            problems.append(f"DAV: element {qname.localname} has prefix {el.prefix}, not D")
    return problems


def date_problems(body: bytes) -> list[str]:
    """Every ``getlastmodified`` must be RFC 1123 GMT and every ``creationdate`` ISO 8601 with
    a ``Z`` and at most 3 fraction digits."""
    problems: list[str] = []
    root = etree.fromstring(body)
    for el in root.iter(f"{{{DAV_NS}}}getlastmodified"):
        if not RFC1123.match(el.text or ""):
            problems.append(f"getlastmodified not RFC 1123: {el.text!r}")
    for el in root.iter(f"{{{DAV_NS}}}creationdate"):
        if not ISO_Z.match(el.text or ""):
            problems.append(f"creationdate not ISO 8601 with Z: {el.text!r}")
    return problems


def propstat_statuses(body: bytes) -> dict[str, str]:
    """``{clark name: status line}`` of every property in every propstat of a multistatus."""
    out: dict[str, str] = {}
    root = etree.fromstring(body)
    for propstat in root.iter(f"{{{DAV_NS}}}propstat"):
        status = propstat.findtext(f"{{{DAV_NS}}}status") or ""
        prop = propstat.find(f"{{{DAV_NS}}}prop")
        for el in prop if prop is not None else []:
            if isinstance(el.tag, str):
                out[el.tag] = status.strip()
    return out


def responses(body: bytes) -> dict[str, dict[str, str]]:
    """``{href: {clark name: text}}`` for the 200 properties of each response."""
    out: dict[str, dict[str, str]] = {}
    root = etree.fromstring(body)
    for resp in root.iter(f"{{{DAV_NS}}}response"):
        href = resp.findtext(f"{{{DAV_NS}}}href") or ""
        props: dict[str, str] = {}
        for propstat in resp.iter(f"{{{DAV_NS}}}propstat"):
            if " 200 " not in (propstat.findtext(f"{{{DAV_NS}}}status") or ""):
                continue
            prop = propstat.find(f"{{{DAV_NS}}}prop")
            for el in prop if prop is not None else []:
                if isinstance(el.tag, str):
                    props[el.tag] = "".join(el.itertext())
        out[href] = props
    return out


def dav_classes(response: httpx.Response) -> set[str]:
    """The compliance classes of a ``DAV:`` response header."""
    return {c.strip() for c in response.headers.get("DAV", "").split(",") if c.strip()}
