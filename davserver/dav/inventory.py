"""The inventory endpoint: one request lists a whole tree with sizes, mtimes and hashes.

``GET <collection URL>?inventory`` answers ``application/x-ndjson``: a header object
``{"inventory": 1, "root": "<collection path>", "files": true}``, then one JSON object per
entry below the collection, depth first, sorted by path::

    {"path": "sub/a.txt", "type": "file", "size": 3, "mtime_ns": ..., "etag": "...",
     "md5": "...", "sha1": "...", "sha256": "..."}
    {"path": "sub", "type": "dir", "mtime_ns": ...}

and a trailer ``{"end": true, "count": N}`` so a client can tell a complete listing from a
truncated one. The body is streamed (constant memory) and gzip-compressed when the client
accepts gzip. Plain PROPFIND keeps working for scripts; this exists because a Depth 1
PROPFIND per folder is slow on big trees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TypeAlias

from davserver.dav.resources import FolderResource
from davserver.dav.streamed import start_streamed
from davserver.http.encoding import accepts_gzip, gzip_stream
from davserver.http.environ import Environ, StartResponse
from providers.base import Provider
from providers.errors import NotFoundError

_Record: TypeAlias = dict[str, str | int | bool | None]
"""One line of the inventory, as a JSON object."""


def wants_inventory(environ: Environ) -> bool:
    """True for ``GET ...?inventory`` (also ``?inventory=1``)."""
    query = environ.get("QUERY_STRING", "")
    return any(part.split("=", 1)[0] == "inventory" for part in query.split("&"))


def _walk(storage: Provider, base: str) -> Iterator[_Record]:
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            entries = storage.listdir(folder)
        except NotFoundError:
            continue  # removed while we walked
        for entry in entries:
            rel = entry.path[len(base) + 1 :] if base else entry.path
            if entry.is_dir:
                stack.append(entry.path)
                yield {"path": rel, "type": "dir", "mtime_ns": entry.mtime_ns}
                continue
            try:
                d = storage.digests(entry.path)
            except NotFoundError:
                continue
            yield {
                "path": rel,
                "type": "file",
                "size": entry.size,
                "mtime_ns": entry.mtime_ns,
                "etag": entry.etag,
                "md5": d.md5,
                "sha1": d.sha1,
                "sha256": d.sha256,
            }


def _lines(storage: Provider, res: FolderResource) -> Iterator[bytes]:
    yield _dump({"inventory": 1, "root": res.path, "files": True})
    count = 0
    for item in _walk(storage, res.storage_path):
        count += 1
        yield _dump(item)
    yield _dump({"end": True, "count": count})


def _dump(obj: _Record) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def serve_inventory(
    environ: Environ, start_response: StartResponse, res: FolderResource
) -> Iterator[bytes]:
    """Stream the inventory of ``res`` (see the module docstring)."""
    storage: Provider = res.ctx.storage
    headers = [
        ("Content-Type", "application/x-ndjson; charset=utf-8"),
        ("Cache-Control", "no-store"),
    ]
    body = _lines(storage, res)
    if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")):
        headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        body = gzip_stream(body)
    start_streamed(environ, start_response, "200 OK", headers)
    if environ["REQUEST_METHOD"].upper() == "HEAD":
        return iter([b""])
    return body
