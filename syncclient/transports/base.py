"""The Transport protocol: everything the client needs from a server, and its errors.

Exception tree::

    TransportError                 root; ``transient`` says whether a retry may help
    ├── UnreachableError           connection refused, DNS, TLS failure (transient)
    ├── StalledError               no progress within the stall timeout (transient)
    ├── AuthError                  401/403 on the collection: wrong credentials or no access
    ├── SetupError                 the server answers but the setup is wrong: untrusted
    │   │                          certificate, http:// to a TLS port (or https:// to a
    │   │                          plain one); retrying does not help
    │   └── WrongURLError          the URL is not a folder files can be sent to
    └── StatusError                any other unexpected HTTP status; ``status``,
                                   ``retry_after`` (seconds, from Retry-After) and
                                   ``transient`` (408, 423, 425, 429, 5xx)

A transport never lets its HTTP library's exceptions escape: they are translated at the seam
(``raise ... from``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from syncclient import SyncClientError
from syncclient.model import RemoteFile, RemoteInventory

RETRYABLE_STATUS = frozenset({408, 423, 425, 429, 500, 502, 503, 504, 507, 509})


class TransportError(SyncClientError):
    """A request failed. ``transient``: retrying later may succeed."""

    transient = False
    retry_after: float | None = None


class UnreachableError(TransportError):
    """The server cannot be reached (connect, DNS, TLS, dropped connection)."""

    transient = True


class StalledError(TransportError):
    """The connection made no progress within the stall timeout."""

    transient = True


class AuthError(TransportError):
    """Credentials refused or no access to the collection."""


class SetupError(TransportError):
    """The server was reached but the client's setup is wrong; the message says the fix."""


class WrongURLError(SetupError):
    """The target URL is not a folder the client can send files to."""


class StatusError(TransportError):
    """An unexpected HTTP status. ``explanation``: the short text the server sent with it."""

    def __init__(
        self,
        status: int,
        message: str,
        retry_after: float | None = None,
        explanation: str = "",
    ) -> None:
        said = f" (server says: {explanation})" if explanation else ""
        super().__init__(f"{message}: HTTP {status}{said}")
        self.status = status
        self.explanation = explanation
        self.retry_after = retry_after
        self.transient = status in RETRYABLE_STATUS


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the probe found out. ``notes`` are lines for the operator."""

    collection_exists: bool
    inventory: bool
    chunking: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PutResult:
    """What the server said after storing a file: ETag and any hashes it reported
    (lower-case algorithm -> lower-case hex)."""

    etag: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """A server the client uploads to. Paths are relative to the target collection.

    Every method raises TransportError (or a subclass) on failure and nothing else.
    """

    def probe(self) -> ServerInfo:
        """Check credentials and the collection, and detect optional features."""
        ...

    def inventory(self) -> RemoteInventory:
        """Every file and folder below the collection (empty if the collection is missing)."""
        ...

    def stat(self, path: str) -> RemoteFile | None:
        """One file's size and hashes, or None if absent."""
        ...

    def download_digests(self, path: str) -> dict[str, str]:
        """Download a file and hash it locally (for servers that report no hash)."""
        ...

    def make_dir(self, path: str) -> None:
        """Create the folder ``path`` (its parent must exist; existing is fine)."""
        ...

    def make_collection(self) -> None:
        """Create the target collection itself, with missing parents."""
        ...

    def put(
        self, path: str, body: Iterable[bytes], length: int, sha1: str, mtime: int
    ) -> PutResult:
        """Store a whole file in one request, declaring its SHA-1 and mtime."""
        ...

    def session_create(self, session: str, path: str, total: int) -> None:
        """Open the resumable upload session ``session`` for ``path``."""
        ...

    def session_chunks(self, session: str) -> dict[int, int] | None:
        """Chunks the server holds for ``session`` (number -> size); None if it is gone."""
        ...

    def session_put(
        self, session: str, n: int, body: Iterable[bytes], length: int, path: str, total: int
    ) -> None:
        """Store chunk ``n`` (1-based) of ``session``."""
        ...

    def session_commit(
        self, session: str, path: str, total: int, sha1: str, mtime: int
    ) -> PutResult:
        """Assemble the chunks into ``path`` (atomic on the server; the SHA-1 is checked)."""
        ...

    def session_abort(self, session: str) -> None:
        """Delete the session and its chunks (absent is fine)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
