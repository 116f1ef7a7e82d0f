"""Which storage provider the server runs on: local files below ``root`` or an S3 bucket.

``storage: s3://bucket/prefix`` (with the ``s3:`` block) selects ``providers.s3.S3Provider``,
whose namespace lives in the same state database as everything else (``state_target``);
otherwise ``providers.local.LocalProvider`` over ``<root>/files``.
"""

from __future__ import annotations

from davserver.settings import Settings
from providers.base import Provider
from providers.local import LocalProvider
from providers.paths import PathPolicy


def open_storage(settings: Settings) -> Provider:
    """The provider ``settings`` choose, ready to serve (folders created, local files
    reconciled, the S3 sweeper started). Raises S3ConfigError / ProviderError / OSError."""
    policy = PathPolicy(windows_compatible=settings.paths.windows_compatible)
    settings.state_path.mkdir(parents=True, exist_ok=True)
    settings.files_dir.mkdir(parents=True, exist_ok=True)  # the health probe checks it
    if settings.storage is not None:
        from providers.s3 import S3Access, S3Provider  # boto3 is only needed for S3

        s3 = settings.s3
        access = S3Access(
            endpoint=s3.endpoint,
            region=s3.region,
            credentials_file=s3.credentials_file,
            profile=s3.profile,
        )
        provider = S3Provider(
            settings.storage,
            access,
            settings.state_target,
            staging_dir=settings.state_path / "s3-staging",
            path_policy=policy,
            grace_s=s3.grace_s,
        )
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
