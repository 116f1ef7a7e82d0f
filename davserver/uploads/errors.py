"""Upload-session exception tree.

Everything in ``davserver.uploads`` raises only these (plus ``providers.errors`` from the
storage provider during assembly)::

    UploadError                    root
    +-- ProtocolError              a header or a name is malformed (400)
    |   +-- InvalidChunkError      bad chunk name, a range that does not match the body or
    |   |                          lies outside the announced total
    |   +-- AssemblyError          a gap, an overlap or a wrong total found at assembly
    +-- TusVersionError            tus: Tus-Resumable missing or not 1.0.0 (412)
    +-- SessionNotFoundError       no such session for this user (404)
    +-- SessionExistsError         MKCOL of a session name that is in use (405)
    +-- SessionBusyError           another request is assembling the session (423)
    +-- SessionCommittedError      the session was already committed (409)
    +-- ChunkOverlapError          the chunk overlaps another chunk of the session (409)
    +-- OffsetMismatchError        tus: Upload-Offset is not the current offset (409)
    +-- UploadChecksumError        tus: Upload-Checksum does not match the part (460)
    +-- TooManySessionsError       the user has too many open sessions (507)
    +-- UploadTooLargeError        the upload exceeds a configured limit (413)
    +-- InsufficientSpaceError     not enough free space for what was announced (507)
    +-- ClientGoneError            the request body ended before its announced length
    +-- UploadStoreError           the session store failed (I/O, database) (500)

The WsgiDAV glue (``davserver.dav.upload_errors``) maps them to HTTP statuses in one table.
"""

from __future__ import annotations

from davserver.errors import DavserverError


class UploadError(DavserverError):
    """Root of all upload-session errors."""


class ProtocolError(UploadError):
    """A request header, chunk name or metadata value is malformed."""


class InvalidChunkError(ProtocolError):
    """A chunk name is not acceptable, or its range disagrees with its body or the total."""


class AssemblyError(ProtocolError):
    """The received chunks do not form the announced file (gap, overlap, wrong total)."""


class TusVersionError(UploadError):
    """tus: the request's Tus-Resumable version is missing or not supported."""


class SessionNotFoundError(UploadError):
    """The session does not exist (or belongs to someone else)."""


class SessionExistsError(UploadError):
    """A session of that name is already open."""


class SessionBusyError(UploadError):
    """Another request holds the session (assembly in progress)."""


class SessionCommittedError(UploadError):
    """The session has already been committed to its destination."""


class ChunkOverlapError(UploadError):
    """The chunk's byte range overlaps a different chunk already received."""


class OffsetMismatchError(UploadError):
    """tus: the request's Upload-Offset is not the upload's current offset."""

    def __init__(self, expected: int, given: int) -> None:
        super().__init__(f"Upload-Offset {given} does not match the current offset {expected}")
        self.expected = expected
        self.given = given


class UploadChecksumError(UploadError):
    """tus: the Upload-Checksum of a PATCH does not match its body."""


class TooManySessionsError(UploadError):
    """The user already has the maximum number of open sessions."""


class UploadTooLargeError(UploadError):
    """The upload (or a part of it) exceeds a configured size limit."""


class InsufficientSpaceError(UploadError):
    """There is not enough free space for the announced upload."""


class ClientGoneError(UploadError):
    """The request body ended before its announced length (the client went away)."""


class UploadStoreError(UploadError):
    """The session store could not read or write its state."""
