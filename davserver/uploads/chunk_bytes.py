"""Where the bytes of upload-session chunks live besides the local chunk folder.

``SessionStore`` always receives a chunk into a local file (fsynced, renamed) and reads chunks
from local files. A ``ChunkBytes`` decides what else happens:

- ``LocalChunkBytes`` (local storage): nothing; the chunk folder is the only copy.
- ``SharedChunkBytes`` (S3 storage): every finished chunk is uploaded to the object store
  (``<prefix>/u/<session folder>/<chunk file>``) before its database row commits, and a chunk
  missing locally (the session was begun on another server) is downloaded on first use. So a
  chunked or tus session started on one server can be finished on any other server sharing
  the state database and the bucket.

Errors are provider errors (``StorageUnavailableError`` when the store is down: 503).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from providers.errors import ProviderError

if TYPE_CHECKING:  # boto3 is imported only when storage is S3
    from providers.s3.objects import ObjectStore

log = logging.getLogger(__name__)

SESSIONS = "u/"


class ChunkBytes(Protocol):
    """What the session store calls around its local chunk files."""

    def stored(self, directory: str, file: str, local: Path) -> None:
        """``local`` (chunk ``file`` of session folder ``directory``) was just finished;
        called before the chunk's row commits. Raises ProviderError to refuse the chunk."""

    def fetch(self, directory: str, file: str, local: Path) -> None:
        """Make sure ``local`` holds the chunk (fetching it if another server stored it)."""

    def remove(self, directory: str, file: str | None) -> None:
        """Forget one chunk, or every chunk of ``directory`` (``file`` None). Never raises."""

    def directories(self) -> set[str]:
        """Session folders that hold chunks outside this server (for the orphan clean-up,
        listed before the sessions are read). Never raises (empty when unknown)."""


class LocalChunkBytes:
    """Chunks live only in the local chunk folder."""

    def stored(self, directory: str, file: str, local: Path) -> None:
        """Nothing to do."""

    def fetch(self, directory: str, file: str, local: Path) -> None:
        """Nothing to do: the file is local or the chunk is gone."""

    def remove(self, directory: str, file: str | None) -> None:
        """Nothing to do."""

    def directories(self) -> set[str]:
        """None: the local chunk folder is all there is."""
        return set()


class SharedChunkBytes:
    """Chunks are also kept on the object store shared by every server."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    def _key(self, directory: str, file: str = "") -> str:
        return self.objects.location.key(f"{SESSIONS}{directory}/{file}")

    def stored(self, directory: str, file: str, local: Path) -> None:
        """Upload the finished chunk. StorageUnavailableError / StorageIOError."""
        self.objects.upload(self._key(directory, file), local)

    def fetch(self, directory: str, file: str, local: Path) -> None:
        """Download the chunk into ``local`` unless it is already there (written to a
        temporary name and renamed, so a half-downloaded chunk is never used)."""
        if local.exists():
            return
        from providers.s3.objects import s3_errors

        local.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = local.with_name(local.name + ".fetch")
        with s3_errors("fetching a chunk"):
            self.objects.client.download_file(
                self.objects.bucket, self._key(directory, file), str(partial)
            )
        os.replace(partial, local)

    def remove(self, directory: str, file: str | None) -> None:
        """Delete the chunk object(s); failures are logged (the objects stay as garbage)."""
        from providers.s3.objects import s3_errors

        try:
            if file is not None:
                self.objects.delete([self._key(directory, file)])
                return
            prefix = self._key(directory)
            paginator = self.objects.client.get_paginator("list_objects_v2")
            keys: list[str] = []
            with s3_errors("listing session chunks"):
                for page in paginator.paginate(Bucket=self.objects.bucket, Prefix=prefix):
                    keys += [item["Key"] for item in page.get("Contents", [])]
            self.objects.delete(keys)
        except ProviderError as exc:
            log.warning("could not delete chunk objects of session folder %s: %s", directory, exc)

    def directories(self) -> set[str]:
        """Session folders with chunk objects on the store (empty if it cannot be listed)."""
        from providers.s3.objects import s3_errors

        prefix = self.objects.location.key(SESSIONS)
        found: set[str] = set()
        try:
            paginator = self.objects.client.get_paginator("list_objects_v2")
            with s3_errors("listing session folders"):
                pages = paginator.paginate(Bucket=self.objects.bucket, Prefix=prefix, Delimiter="/")
                for page in pages:
                    for common in page.get("CommonPrefixes", []):
                        found.add(common["Prefix"][len(prefix) :].rstrip("/"))
        except ProviderError as exc:
            log.warning("could not list session folders on the object store: %s", exc)
        return found
