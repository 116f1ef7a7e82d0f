"""syncclient: the bundled davsync client that moves files off a site PC to a WebDAV server.

Stages: scan (local inventory with a hash cache) -> remote inventory -> plan (pure) ->
transfer (verified uploads, resumable chunk sessions) -> post-actions and manifest.

Exception tree (one root per package)::

    SyncClientError
    ├── UsageError            bad flags or configuration (exit code 1)
    ├── SourceError           the source folder is missing or unreadable
    └── transports.TransportError   (see syncclient.transports.base)
"""

from __future__ import annotations

from importlib import metadata

__all__ = ["SourceError", "SyncClientError", "UsageError", "version"]


def version() -> str:
    """The installed version of the client (``davsync`` or ``davsync-client`` distribution)."""
    for dist in ("davsync", "davsync-client"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown (not installed)"


class SyncClientError(Exception):
    """Root of the client's own errors."""


class UsageError(SyncClientError):
    """Flags or configuration are invalid; the message says which and why."""


class SourceError(SyncClientError):
    """The local source folder cannot be read."""
