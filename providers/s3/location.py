"""Where an S3 namespace lives: ``s3://bucket/prefix`` plus how to reach the object store.

``S3Location.parse`` reads the URL; ``S3Access`` holds endpoint, region and credentials, taken
from explicit values, a credentials file (AWS shared-credentials INI format) or the ``AWS_*``
environment (boto3's own lookup); ``make_client`` builds the boto3 client with path-style
addressing, short connect time-outs and few retries, so an unreachable store is reported
within seconds instead of minutes.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from providers.errors import ProviderError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 60.0
MAX_ATTEMPTS = 2


class S3ConfigError(ProviderError, ValueError):
    """The storage URL or the S3 settings are unusable; the message says why."""


@dataclass(frozen=True, slots=True)
class S3Location:
    """A bucket and a key prefix (``""`` or ending without a slash)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """``s3://bucket`` or ``s3://bucket/some/prefix``. S3ConfigError otherwise."""
        if not url.startswith("s3://"):
            raise S3ConfigError(f"{url!r} is not an s3://bucket/prefix URL")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not _BUCKET.match(bucket):
            raise S3ConfigError(f"{bucket!r} is not a valid bucket name (3-63 of a-z 0-9 . -)")
        return cls(bucket, prefix.strip("/"))

    def key(self, name: str) -> str:
        """The object key of ``name`` below the prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True, slots=True)
class S3Access:
    """How to reach the store. None values fall back to boto3's lookup (``AWS_*`` variables,
    ``~/.aws``); ``credentials_file`` (INI, section ``profile``) wins over the environment."""

    endpoint: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    credentials_file: Path | None = None
    profile: str = "default"

    def keys(self) -> tuple[str | None, str | None]:
        """(access key, secret key) from the explicit values or the credentials file."""
        if self.access_key or self.credentials_file is None:
            return self.access_key, self.secret_key
        parser = configparser.ConfigParser()
        try:
            with self.credentials_file.open(encoding="utf-8") as f:
                parser.read_file(f)
        except (OSError, configparser.Error) as exc:
            raise S3ConfigError(
                f"cannot read S3 credentials {self.credentials_file}: {exc}"
            ) from exc
        if not parser.has_section(self.profile):
            raise S3ConfigError(f"{self.credentials_file} has no [{self.profile}] section")
        section = parser[self.profile]
        access, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
        if not access or not secret:
            raise S3ConfigError(
                f"{self.credentials_file} [{self.profile}] needs aws_access_key_id and "
                "aws_secret_access_key"
            )
        return access, secret


def make_client(access: S3Access) -> S3Client:
    """A boto3 S3 client for ``access`` (thread-safe; share it)."""
    access_key, secret_key = access.keys()
    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=32,
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=access.endpoint,
        region_name=access.region or "us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )
