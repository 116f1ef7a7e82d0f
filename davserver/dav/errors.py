"""Provider errors -> WsgiDAV DAVError, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_CONFLICT,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_INTERNAL_ERROR,
    HTTP_NOT_FOUND,
    HTTP_PRECONDITION_FAILED,
    DAVError,
)

from providers import errors as pe
from providers.base import Entry, Provider

_STATUS: list[tuple[type[pe.ProviderError], int]] = [
    (pe.NotFoundError, HTTP_NOT_FOUND),
    (pe.AlreadyExistsError, HTTP_PRECONDITION_FAILED),
    (pe.ConflictError, HTTP_CONFLICT),
    (pe.InvalidPathError, HTTP_BAD_REQUEST),
    (pe.PreconditionFailedError, HTTP_PRECONDITION_FAILED),
    (pe.ChecksumMismatchError, HTTP_BAD_REQUEST),
    (pe.SizeMismatchError, HTTP_BAD_REQUEST),
    (pe.InsufficientStorageError, HTTP_INSUFFICIENT_STORAGE),
    (pe.StorageIOError, HTTP_INTERNAL_ERROR),
]


HTTP_SERVICE_UNAVAILABLE = 503


def to_dav_error(exc: pe.ProviderError) -> DAVError:
    """The DAVError a provider error becomes; its message goes to the client. An unreachable
    storage backend is ``503 Service Unavailable`` with ``Retry-After``."""
    if isinstance(exc, pe.StorageUnavailableError):
        retry = [("Retry-After", str(exc.retry_after_s))]
        return DAVError(HTTP_SERVICE_UNAVAILABLE, context_info=str(exc), add_headers=retry)
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return DAVError(status, context_info=str(exc))
    return DAVError(HTTP_INTERNAL_ERROR, context_info=str(exc))


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise provider errors inside the block as DAVError (``raise ... from``)."""
    try:
        yield
    except pe.ProviderError as exc:
        raise to_dav_error(exc) from exc


def stat_or_none(storage: Provider, path: str) -> Entry | None:
    """The entry at ``path``, or None if nothing is there.

    Only NotFoundError means "nothing there": every other provider error (an I/O failure,
    an invalid path) is raised as its DAVError, never mistaken for an absent resource.
    """
    try:
        return storage.stat(path)
    except pe.NotFoundError:
        return None
    except pe.ProviderError as exc:
        raise to_dav_error(exc) from exc


def forbidden(message: str) -> DAVError:
    """A 403 with ``message``."""
    return DAVError(HTTP_FORBIDDEN, context_info=message)


def bad_request(message: str) -> DAVError:
    """A 400 with ``message``."""
    return DAVError(HTTP_BAD_REQUEST, context_info=message)
