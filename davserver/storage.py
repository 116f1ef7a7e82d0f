"""Which storage provider the server runs on: local files below ``root`` or an S3 bucket.

``storage: s3://bucket/prefix`` (with the ``s3:`` block) selects ``providers.s3.S3Provider``,
whose namespace lives in the same state database as everything else (``state_target``);
otherwise ``providers.local.LocalProvider`` over ``<root>/files``. With S3, upload-session
chunks are shared through the object store too (``open_chunk_bytes``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from davserver.preflight import StartupError
from davserver.settings import Settings
from providers.base import Provider
from providers.errors import ProviderError
from providers.local import LocalProvider
from providers.paths import PathPolicy

if TYPE_CHECKING:
    from davserver.uploads.chunk_bytes import ChunkBytes
    from providers.s3 import S3Access


def s3_access(settings: Settings) -> S3Access:
    """How to reach the object store of the ``s3:`` settings."""
    from providers.s3 import S3Access

    s3 = settings.s3
    return S3Access(
        endpoint=s3.endpoint,
        region=s3.region,
        credentials_file=s3.credentials_file,
        profile=s3.profile,
    )


def open_chunk_bytes(settings: Settings) -> ChunkBytes | None:
    """Where upload-session chunks are shared between servers: the object store when storage
    is S3 (so a session begun on one server can be finished on another), else None (local
    chunk files only)."""
    if settings.storage is None:
        return None
    from davserver.uploads.chunk_bytes import SharedChunkBytes
    from providers.s3 import S3Location
    from providers.s3.location import make_client
    from providers.s3.objects import ObjectStore

    location = S3Location.parse(settings.storage)
    return SharedChunkBytes(ObjectStore(make_client(s3_access(settings)), location))


def objects_probe(settings: Settings) -> Callable[[], str | None] | None:
    """For ``/healthz``: a check that the bucket answers (None without S3 storage). The
    probe returns None when healthy, else a short reason; it never raises."""
    if settings.storage is None:
        return None
    from providers.s3 import S3Location
    from providers.s3.location import make_client
    from providers.s3.objects import ObjectStore

    store = ObjectStore(make_client(s3_access(settings)), S3Location.parse(settings.storage))
    return store.probe


def open_storage(settings: Settings) -> Provider:
    """The provider ``settings`` choose, ready to serve (folders created, local files
    reconciled, the S3 sweeper started). Raises StartupError (S3 unusable or unreachable),
    ProviderError / OSError (local storage)."""
    policy = PathPolicy(windows_compatible=settings.paths.windows_compatible)
    settings.state_path.mkdir(parents=True, exist_ok=True)
    settings.files_dir.mkdir(parents=True, exist_ok=True)  # the health probe checks it
    if settings.storage is not None:
        from providers.s3 import S3ConfigError, S3Provider  # boto3 is only needed for S3

        s3 = settings.s3
        try:
            provider = S3Provider(
                settings.storage,
                s3_access(settings),
                settings.state_target,
                staging_dir=settings.state_path / "s3-staging",
                path_policy=policy,
                grace_s=s3.grace_s,
            )
        except (S3ConfigError, ProviderError) as exc:
            raise StartupError(
                f"storage {settings.storage}: {exc} (check s3.endpoint, the credentials and "
                "that the object store runs)"
            ) from exc
        if s3.sweep_interval_s > 0:
            provider.start_sweeper(s3.sweep_interval_s)
        return provider
    local = LocalProvider(
        settings.files_dir,
        settings.state_path,
        reserve_bytes=settings.reserve_bytes,
        path_policy=policy,
    )
    local.reconcile()
    return local
