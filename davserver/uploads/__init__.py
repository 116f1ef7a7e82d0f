"""Resumable upload sessions: Nextcloud-style chunking and tus 1.0.

``protocol`` holds the pure parsing and range rules, ``store`` the durable session state
(SQLite rows + chunk files), ``service`` the operations (create, put chunk, list, assemble,
abort, expire), which reach user files only through the storage provider.
``open_upload_service`` builds the service for a server's settings.
"""

from __future__ import annotations

import logging
import time

from davserver.settings import Settings
from davserver.uploads.errors import UploadError
from davserver.uploads.service import UploadLimits, UploadService
from davserver.uploads.store import Clock, SessionStore
from providers.base import Provider

log = logging.getLogger(__name__)

MAX_GC_INTERVAL_S = 3600.0

__all__ = ["UploadLimits", "UploadService", "gc_interval", "open_upload_service"]


def limits_from(settings: Settings) -> UploadLimits:
    """The upload limits ``settings`` configure."""
    return UploadLimits(
        session_ttl_s=float(settings.uploads.session_ttl_s),
        max_sessions_per_user=settings.uploads.max_sessions_per_user,
        max_upload_bytes=settings.uploads.max_upload_bytes,
        max_chunk_bytes=settings.limits.max_put_bytes,
        reserve_bytes=settings.reserve_bytes,
    )


def gc_interval(settings: Settings) -> float:
    """How often expired sessions are looked for: a tenth of the TTL, at most hourly."""
    return min(MAX_GC_INTERVAL_S, settings.uploads.session_ttl_s / 10)


def open_upload_service(
    settings: Settings, storage: Provider, clock: Clock = time.time
) -> UploadService:
    """Open the session store under ``settings.state_path / "uploads"`` and remove what has
    expired since the last run. Raises UploadError if the store cannot be opened."""
    from davserver.storage import open_chunk_bytes  # S3 storage: chunks shared by servers

    chunks = open_chunk_bytes(settings)
    store = SessionStore(settings.state_target, settings.state_path / "uploads", clock, chunks)
    service = UploadService(store, storage, limits_from(settings), clock)
    try:
        service.expire()
    except UploadError as exc:
        log.warning("upload session clean-up at start-up failed: %s", exc)
    return service
