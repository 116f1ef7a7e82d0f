"""LOCK of an unmapped URL (RFC 4918 7.3, 9.10.4): the empty file is created only once the
lock is granted.

WsgiDAV's ``do_LOCK`` creates the empty resource *before* it asks the lock manager, so a LOCK
the lock manager refuses (423 to the loser of a race, 507 for too many locks) used to leave an
empty file behind, and the loser of a race between two lock-null LOCKs got 412 from the
create-if-absent of the file the winner had just made. Here:

1. ``FolderResource.create_empty_resource`` called for a LOCK creates nothing; it returns a
   pending ``FileResource`` and records it with :func:`defer_creation`;
2. WsgiDAV acquires the lock on the URL (conflicts -> 423, quota -> 507; nothing on disk yet);
3. :func:`handle_lock` holds back WsgiDAV's ``201 Created`` answer, creates the empty file
   (only if nothing is there), and then sends the answer. If creating the file fails, the lock
   is released again and the error is answered instead, so a refused LOCK leaves nothing.

A file that appeared between WsgiDAV's look-up and the creation (a PUT that was already past its
lock check) is kept and locked: the answer is then ``200 OK`` instead of ``201 Created``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from wsgidav.dav_error import DAVError

from davserver.dav.errors import translated
from davserver.http.environ import Environ, StartResponse, WSGIApp
from providers.errors import AlreadyExistsError

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from wsgidav.lock_man.lock_manager import LockManager

    from davserver.dav.resources import FileResource

_log = logging.getLogger(__name__)


_PENDING_KEY = "davsync.lock_null.pending"


def defer_creation(environ: Environ, resource: FileResource) -> None:
    """Record the pending file of a lock-null LOCK; :func:`handle_lock` creates it."""
    environ[_PENDING_KEY] = resource


def pending(environ: Environ, storage_path: str) -> FileResource | None:
    """The pending file of this request's lock-null LOCK if it is at ``storage_path``, else
    None (WsgiDAV looks the lock root up again to render ``DAV:lockdiscovery``)."""
    resource: FileResource | None = environ.get(_PENDING_KEY)
    if resource is not None and resource.storage_path == storage_path:
        return resource
    return None


def handle_lock(
    environ: Environ,
    start_response: StartResponse,
    next_app: WSGIApp,
    lock_manager: LockManager | None,
) -> Iterable[bytes]:
    """Run WsgiDAV's LOCK; create the deferred empty file only after the lock was granted."""
    held: list[tuple[str, list[tuple[str, str]]]] = []  # the (status, headers) held back

    def hold(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if environ.get(_PENDING_KEY) is None or not status.startswith("201"):
            return start_response(status, headers, exc_info)
        held[:] = [(status, headers)]
        return lambda _data: None  # WsgiDAV's LOCK answers by returning its body

    result = next_app(environ, hold)
    try:
        body = b"".join(result)  # WsgiDAV's handler runs while its result is iterated
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not held:
        return [body]
    status, headers = held[0]
    resource: FileResource = environ.pop(_PENDING_KEY)
    token = _lock_token(headers)
    try:
        if not _create_empty(resource):
            status = "200 OK"
    except DAVError:
        if token is not None and lock_manager is not None:  # (a lock was granted: there is one)
            lock_manager.release(token)
        _log.info("LOCK of %s released: the empty file could not be created", environ["PATH_INFO"])
        raise
    start_response(status, headers)
    return [body]


def _create_empty(resource: FileResource) -> bool:
    """Create the resource's empty file; False if a file already exists there."""
    storage = resource.ctx.storage
    try:
        with translated():
            handle = storage.begin_write(resource.storage_path)
            try:
                resource.entry = handle.commit(expected_size=0, if_none_match_any=True).entry
            except BaseException:
                handle.abort()
                raise
    except DAVError as exc:
        if isinstance(exc.__cause__, AlreadyExistsError):
            return False
        raise
    return True


def _lock_token(headers: list[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() == "lock-token":
            return value.strip().strip("<>")
    return None
