"""Upload-session errors -> HTTP statuses (and DAVError), in one table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from wsgidav.dav_error import HTTP_BAD_REQUEST, DAVError

from davserver.dav.errors import to_dav_error
from davserver.uploads import errors as ue
from providers.errors import ProviderError

TUS_CHECKSUM_MISMATCH = 460

_STATUS: list[tuple[type[ue.UploadError], int]] = [
    (ue.TusVersionError, 412),
    (ue.ProtocolError, 400),
    (ue.SessionNotFoundError, 404),
    (ue.SessionExistsError, 405),
    (ue.SessionBusyError, 423),
    (ue.SessionCommittedError, 409),
    (ue.ChunkOverlapError, 409),
    (ue.OffsetMismatchError, 409),
    (ue.UploadChecksumError, TUS_CHECKSUM_MISMATCH),
    (ue.TooManySessionsError, 507),
    (ue.UploadTooLargeError, 413),
    (ue.InsufficientSpaceError, 507),
    (ue.ClientGoneError, 400),
    (ue.UploadStoreError, 500),
]


def upload_status(exc: ue.UploadError) -> int:
    """The HTTP status an upload error is answered with."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_status(exc: ue.UploadError | ProviderError | DAVError) -> int:
    """The HTTP status of any error the upload front ends may meet."""
    if isinstance(exc, ue.UploadError):
        return upload_status(exc)
    if isinstance(exc, ProviderError):
        return int(to_dav_error(exc).value)
    return int(exc.value)


def upload_dav_error(exc: ue.UploadError) -> DAVError:
    """The DAVError for WsgiDAV handlers (460 only exists in tus; it becomes 400 here)."""
    status = upload_status(exc)
    if status == TUS_CHECKSUM_MISMATCH:
        status = HTTP_BAD_REQUEST
    return DAVError(status, context_info=str(exc))


@contextmanager
def upload_translated() -> Iterator[None]:
    """Re-raise upload and provider errors inside the block as DAVError."""
    try:
        yield
    except ue.UploadError as exc:
        raise upload_dav_error(exc) from exc
    except ProviderError as exc:
        raise to_dav_error(exc) from exc
