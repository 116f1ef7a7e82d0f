"""What every write through the seam shares, whether a plain PUT or an upload assembled from
chunks: the body sink WsgiDAV's PUT writes into, the destination a write may land on, and the
headers that describe what was committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from davserver.dav.errors import bad_request, forbidden
from davserver.dav.request import DavRequest
from davserver.http.digests import oc_checksum_header
from providers import paths
from providers.base import Entry
from providers.errors import InvalidPathError
from providers.hashing import Digests

if TYPE_CHECKING:
    from davserver.context import ServerContext

FILES_PREFIX = "/files/"


class BodySink:
    """The file object WsgiDAV's PUT writes the request body into.

    Each block goes to ``write`` (a provider write handle or a chunk upload) inside
    ``translate()``, the context that turns that layer's errors into DAVError. ``close`` does
    nothing: the resource's ``end_write`` commits or aborts.
    """

    def __init__(
        self,
        write: Callable[[bytes], object],
        translate: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._write = write
        self._translate = translate

    def writelines(self, blocks: Iterable[bytes]) -> None:
        with self._translate():
            for block in blocks:
                self._write(block)

    def write(self, data: bytes) -> None:
        with self._translate():
            self._write(data)

    def close(self) -> None:
        """Nothing to do: ``end_write`` commits or aborts."""


def writable_destination(ctx: ServerContext, user: str, share_path: str) -> str:
    """The storage path of files-area share path ``share_path``, which ``user`` may write.

    Raises DAVError 403 outside the files area or without write access to the home, 400 for
    a path the path policy rejects.
    """
    if not share_path.startswith(FILES_PREFIX):
        raise forbidden("the destination must lie in the files area")
    try:
        dest = paths.normalize(share_path[len(FILES_PREFIX) :])
    except InvalidPathError as exc:
        raise bad_request(f"Destination: {exc}") from exc
    home = dest.split("/", 1)[0]
    if not dest or not ctx.policy.can_write(user, home):
        raise forbidden(f"no write access to home {home!r}")
    return dest


def queue_commit_headers(
    request: DavRequest,
    ctx: ServerContext,
    *,
    entry: Entry | None,
    digests: Digests | None,
    mtime_applied: bool,
) -> None:
    """Queue ``ETag``, ``OC-ETag``, ``OC-FileId``, ``OC-Checksum`` and ``X-OC-Mtime:
    accepted`` for a committed file (what is unknown is left out). A header the handler
    sends itself (WsgiDAV's ``ETag`` after a PUT) wins over the queued one."""
    if entry is not None:
        etag = f'"{entry.etag}"'
        request.add_response_header("ETag", etag)
        request.add_response_header("OC-ETag", etag)
        request.add_response_header("OC-FileId", f"{entry.file_id}{ctx.instance_id}")
    if digests is not None:
        request.add_response_header("OC-Checksum", oc_checksum_header(digests))
    if mtime_applied:
        request.add_response_header("X-OC-Mtime", "accepted")
