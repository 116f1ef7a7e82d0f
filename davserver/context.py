"""The server's collaborators, built once at start-up and shared by every front end."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from davserver.access import AccessPolicy
from davserver.collection.model import CollectionView
from davserver.settings import Settings
from davserver.uploads.service import UploadService
from providers.base import Provider
from providers.errors import AlreadyExistsError


@dataclass(frozen=True)
class ServerContext:
    """Storage, access policy and limits; what request handlers need beyond the request."""

    settings: Settings
    storage: Provider
    policy: AccessPolicy
    instance_id: str
    uploads: UploadService | None = None
    collection: CollectionView | None = None

    @property
    def max_put_bytes(self) -> int | None:
        """Largest accepted request body for a single PUT (None: only the disk limits it)."""
        return self.settings.limits.max_put_bytes

    def ensure_home(self, user: str) -> None:
        """Create ``user``'s home collection if it does not exist yet."""
        with contextlib.suppress(AlreadyExistsError):
            self.storage.mkdir(user)

    def homes(self) -> list[str]:
        """Names of all existing homes."""
        return [e.name for e in self.storage.listdir("") if e.is_dir]
