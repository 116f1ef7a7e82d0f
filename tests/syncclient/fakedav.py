"""A tiny misbehaving WebDAV peer on pytest-httpserver: plain PROPFIND/PUT/MKCOL/GET, no
inventory endpoint, no upload sessions, and a list of faults consumed one per request."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

Fault = Callable[[Request], Response | None]

MULTI = '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'


def drop(req: Request) -> Response:
    """Close the connection without an answer."""
    req.get_data()
    sock = req.environ["werkzeug.socket"]
    sock.shutdown(socket.SHUT_RDWR)
    return Response("", 500)


def unavailable(retry_after: int) -> Fault:
    """Answer 503 with Retry-After."""
    return lambda req: Response("busy", 503, headers={"Retry-After": str(retry_after)})


def full(req: Request) -> Response:
    """Answer 507 Insufficient Storage (the server's disk or quota is full)."""
    req.get_data()
    return Response("not enough free space", 507, content_type="text/plain")


def trickle(seconds: float) -> Fault:
    """Answer 207 and send the body one byte every tenth of a second for ``seconds``
    (a peer that never goes quiet long enough to trip a read timeout)."""

    def fault(req: Request) -> Response:
        req.get_data()
        count = int(seconds * 10)

        def body() -> Iterator[bytes]:
            for _ in range(count):
                time.sleep(0.1)
                yield b" "

        return Response(
            body(),
            207,
            content_type="application/xml",
            headers={"Content-Length": str(count)},
            direct_passthrough=True,
        )

    return fault


@dataclass
class FakeDav:
    """In-memory files below ``/dav/`` with fault injection.

    ``faults[method]``: faults applied to the next requests of that method, in order.
    ``wrong_hash``: report a wrong SHA-1 for every file (PUT response and PROPFIND).
    """

    server: HTTPServer
    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    wrong_hash: bool = False
    log: list[tuple[float, str, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        """The collection URL clients sync into."""
        return self.server.url_for("/dav/")

    def puts(self) -> list[tuple[float, str, int]]:
        """(time, path, status) of every PUT."""
        return [(t, p, s) for t, m, p, s in self.log if m == "PUT"]

    def handle(self, req: Request) -> Response:
        with self.lock:
            queue = self.faults.get(req.method, [])
            fault = queue.pop(0) if queue else None
        resp = fault(req) if fault is not None else None
        if resp is None:
            resp = self._serve(req)
        self.log.append((time.monotonic(), req.method, unquote(req.path), resp.status_code))
        return resp

    def _sha1(self, data: bytes) -> str:
        digest = hashlib.sha1(data).hexdigest()
        return ("0" * 40) if self.wrong_hash else digest

    def _serve(self, req: Request) -> Response:
        path = unquote(req.path)
        if not path.startswith("/dav/"):
            return Response("", 404)
        rel = path[len("/dav/") :].strip("/")
        if req.method == "PUT":
            data = req.get_data()
            self.files[rel] = data
            return Response("", 201, headers={"OC-Checksum": f"SHA1:{self._sha1(data)}"})
        if req.method == "MKCOL":
            return Response("", 201)
        if req.method == "GET" and rel in self.files:
            return Response(self.files[rel], 200)
        if req.method == "PROPFIND":
            return self._propfind(rel, req.headers.get("Depth", "1"))
        if req.method in ("HEAD", "GET"):
            return Response("<html></html>", 200, content_type="text/html")
        return Response("", 405)

    def _entry(self, rel: str, data: bytes | None) -> str:
        href = quote("/dav/" + rel + ("/" if data is None and rel else ""))
        if data is None:
            props = "<d:resourcetype><d:collection/></d:resourcetype>"
        else:
            props = (
                f"<d:resourcetype/><d:getcontentlength>{len(data)}</d:getcontentlength>"
                f"<oc:checksums><oc:checksum>SHA1:{self._sha1(data)}</oc:checksum></oc:checksums>"
            )
        return (
            f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop>"
            "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
        )

    def _propfind(self, rel: str, depth: str) -> Response:
        if rel in self.files:
            body = MULTI + self._entry(rel, self.files[rel]) + "</d:multistatus>"
            return Response(body, 207, content_type="application/xml")
        prefix = rel + "/" if rel else ""
        parts = [self._entry(rel, None)]
        if depth != "0":
            dirs = set()
            for name, data in sorted(self.files.items()):
                if not name.startswith(prefix):
                    continue
                rest = name[len(prefix) :]
                if "/" in rest:
                    dirs.add(prefix + rest.split("/", 1)[0])
                else:
                    parts.append(self._entry(name, data))
            parts += [self._entry(d, None) for d in sorted(dirs)]
        body = MULTI + "".join(parts) + "</d:multistatus>"
        return Response(body, 207, content_type="application/xml")
