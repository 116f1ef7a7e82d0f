"""Provider exception tree.

Every provider raises only these (or subclasses), never OSError or sqlite3 errors:

    ProviderError                 root; ``transient`` says whether retrying can help
    +-- NotFoundError             the path does not exist
    +-- AlreadyExistsError        the target exists and overwriting was not allowed
    +-- ConflictError             the parent is missing or is not a collection, or a
    |                             collection is where a file is needed (or vice versa)
    +-- InvalidPathError          the path violates the path policy (providers.paths)
    +-- PreconditionFailedError   an ETag precondition checked at commit time failed
    +-- ChecksumMismatchError     a digest the client sent does not match the bytes
    +-- SizeMismatchError         fewer or more bytes arrived than announced
    +-- InsufficientStorageError  the disk (or a quota) is full
    +-- StorageIOError            any other I/O failure (transient)
        +-- StorageUnavailableError   the storage backend (an object store) cannot be reached
"""

from __future__ import annotations


class ProviderError(Exception):
    """Root of all provider errors."""

    transient: bool = False
    """True when the same request may succeed later (a full disk, an I/O hiccup)."""


class NotFoundError(ProviderError):
    """The path does not exist."""


class AlreadyExistsError(ProviderError):
    """The target exists and the operation may not replace it."""


class ConflictError(ProviderError):
    """The parent is missing or the resource is of the wrong kind."""


class InvalidPathError(ProviderError):
    """The path is not acceptable under the path policy."""


class PreconditionFailedError(ProviderError):
    """An ETag precondition evaluated at commit time did not hold."""


class ChecksumMismatchError(ProviderError):
    """A client-declared digest differs from the digest of the received bytes."""

    def __init__(self, algorithm: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{algorithm} mismatch: client declared {expected}, received bytes hash to {actual}"
        )
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class SizeMismatchError(ProviderError):
    """The number of bytes received differs from the announced length."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected {expected} bytes, received {actual}")
        self.expected = expected
        self.actual = actual


class InsufficientStorageError(ProviderError):
    """No space left on the device, or a quota would be exceeded."""

    transient = True


class StorageIOError(ProviderError):
    """An I/O error other than a full disk."""

    transient = True


class StorageUnavailableError(StorageIOError):
    """The storage backend cannot be reached right now (an object store is down or answers
    5xx); nothing was changed, and the same request may succeed after ``retry_after_s``."""

    retry_after_s: int = 5
